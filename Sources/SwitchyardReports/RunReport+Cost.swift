import SwitchyardCharts
import SwitchyardCostModel
import SwitchyardTraces
import SwitchyardTraining

extension RunReport {
    /// The cost sweep of a run's trace: model sizes from its configuration, the simulator's
    /// default machine (``ClusterModel``), drops at capacity factors 1.0 and 1.25. Nil when the
    /// trace has one expert or no assignment.
    static func costSweep(_ trace: RoutingTrace, _ configuration: TrainingConfiguration) throws -> CostSweep? {
        guard trace.expertCount >= 2, trace.assignmentCount > 0 else { return nil }
        return try CostSweep(trace, model: ClusterModel(hidden: configuration.model.width,
                                                        ffnHidden: configuration.model.expertHidden))
    }

    /// "Cost under expert parallelism": straggler factor, drops and step time versus D.
    func costSection(_ b: inout ReportBuilder) {
        if isSoftRouting {
            b.heading(2, "Cost under expert parallelism")
            b.paragraph("Not simulated: the simulator moves tokens to the experts that took them, while a soft router's "
                        + "experts each process p slots per image (balanced by construction) built from all of the image's "
                        + "tokens, so the trace's records (each token's expert of largest combine mass) do not describe the "
                        + "traffic or the compute.")
            return
        }
        guard let cost else { return }
        b.heading(2, "Cost under expert parallelism")
        let m = cost.model
        let steps = cost.groupSource == .trace ? "each of the trace's \(ReportFormat.count(cost.groupCount)) test batches (its routing groups) is one dispatch step"
            : "the trace does not record its test batches, so all its tokens form one dispatch step"
        b.paragraph("What this routing would cost with each layer's experts spread over D devices, simulated from the test-set "
                    + "trace as `switchyard simulate` does (docs/expert-parallel.md has the model): "
                    + "\(steps), its tokens split evenly over the devices; every (token, expert) assignment on another device "
                    + "crosses the network in the dispatch and back in the combine. Straggler factor = the busiest device's rows / "
                    + "the mean, per step; step time = the busiest device's expert compute plus both all-to-alls, summed over the "
                    + "MoE layers, for hidden \(m.hidden) and FFN \(m.ffnHidden) (this run's), bf16 rows, "
                    + "\(ReportFormat.number(m.deviceTFLOPs, 0)) TFLOP/s and \(ReportFormat.number(m.linkBandwidthGBps, 0)) GB/s per device: "
                    + "an estimate, not a measurement. × ideal compares it with perfectly spread compute and traffic. Balanced "
                    + "placement is optimised on this same trace, so its numbers are optimistic for unseen batches.")
        let placements: [ExpertPlacement.Kind] = [.contiguous, .balanced]
        let devices = Array(Set(cost.rows.map(\.devices))).sorted()
        let series = placements.map { kind in
            ChartSeries(name: kind.rawValue, x: [], y: devices.map { d in
                cost.rows.first { $0.devices == d && $0.placement == kind }?.dropless.stragglerFactor?.mean ?? .nan
            })
        }
        b.chart("cost-straggler", alt: "Straggler factor versus devices", svg: BarChart(
            title: "Mean straggler factor (busiest device / mean)", categories: devices.map { "D = \($0)" },
            series: series, yLabel: "straggler factor").svg())
        var t = MarkdownTable(["D", "placement", "straggler mean", "p90", "max"]
                              + cost.capacityFactors.map { "dropped at cf \(ReportFormat.number($0, 2))" }
                              + ["step time (all layers)", "× ideal"],
                              alignments: [.right, .left, .right, .right, .right] + cost.capacityFactors.map { _ in .right } + [.right, .right])
        for r in cost.rows {
            let s = r.dropless
            t.append([String(r.devices), r.placement.rawValue, ReportFormat.number(s.stragglerFactor?.mean),
                      ReportFormat.number(s.stragglerFactor?.p90), ReportFormat.number(s.stragglerFactor?.max)]
                     + r.droppedFraction.map { ReportFormat.percent($0) }
                     + [CostSummary.formatSeconds(s.stepSeconds?.mean), ReportFormat.number(s.slowdownVersusIdeal, 2)])
        }
        b.table(t)
    }
}
