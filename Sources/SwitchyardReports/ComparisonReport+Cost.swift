import SwitchyardCharts
import SwitchyardCostModel

extension ComparisonReport {
    /// "Cost under expert parallelism": each group's balance translated into straggler factor,
    /// drops and step time versus D (means over the group's runs; RunReport+Cost.swift).
    func costSection(_ b: inout ReportBuilder) {
        let devices = Array(Set(groups.flatMap { $0.runs.flatMap { $0.cost?.rows.map(\.devices) ?? [] } })).sorted()
        guard !devices.isEmpty else { return }
        let soft = groups.filter { g in g.runs.contains { $0.analysis?.metadata["router.soft"] == "true" } }
        b.heading(2, "Cost under expert parallelism")
        b.paragraph("Each group's test-set routing simulated on D devices as in the run reports (docs/expert-parallel.md): "
                    + "straggler factor = the busiest device's rows / the mean per dispatch step, step time = the busiest "
                    + "device's expert compute plus both all-to-alls summed over the MoE layers, for each run's model sizes on "
                    + "the simulator's default machine; an estimate, not a measurement. Means over the group's runs; drops are "
                    + "the same under both placements (they depend on the experts' loads only)."
                    + (soft.isEmpty ? "" : " \(ReportFormat.list(soft.map(\.label))) \(soft.count == 1 ? "is" : "are") not "
                       + "simulated (n/a): a soft layer moves slots, not tokens (docs/routers.md, soft-moe)."))
        func mean(_ g: RunGroup, _ d: Int, _ kind: ExpertPlacement.Kind, _ value: (CostSweep.Row) -> Double?) -> Double? {
            let v = g.runs.compactMap { $0.cost?.rows.first { $0.devices == d && $0.placement == kind }.flatMap(value) }
                .filter(\.isFinite)
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        let step = { (r: CostSweep.Row) in r.dropless.stepSeconds?.mean }
        b.chart("compare-cost-step", alt: "Estimated MoE step time per group and device count", svg: BarChart(
            title: "Estimated MoE step time, contiguous placement (µs)",
            categories: devices.map { "D = \($0)" },
            series: groups.map { g in ChartSeries(name: g.label, x: [], y: devices.map { (mean(g, $0, .contiguous, step) ?? .nan) * 1e6 }) },
            yLabel: "µs per step, all MoE layers").svg())
        var t = MarkdownTable(["group", "D", "straggler, contiguous", "straggler, balanced", "dropped at cf 1.00",
                               "step time, contiguous", "step time, balanced", "× ideal, contiguous"],
                              alignments: [.left, .right, .right, .right, .right, .right, .right, .right])
        for g in groups {
            for d in devices {
                t.append([g.label, String(d),
                          ReportFormat.number(mean(g, d, .contiguous) { $0.dropless.stragglerFactor?.mean }),
                          ReportFormat.number(mean(g, d, .balanced) { $0.dropless.stragglerFactor?.mean }),
                          ReportFormat.percent(mean(g, d, .contiguous) { $0.droppedFraction.first }),
                          CostSummary.formatSeconds(mean(g, d, .contiguous, step)),
                          CostSummary.formatSeconds(mean(g, d, .balanced, step)),
                          ReportFormat.number(mean(g, d, .contiguous) { $0.dropless.slowdownVersusIdeal }, 2)])
            }
        }
        b.table(t)
    }
}
