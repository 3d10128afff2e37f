import SwitchyardCostModel
import SwitchyardParallelism
import SwitchyardTraces
import SwitchyardTraining

extension RunReport {
    /// For an expert-parallel run, the simulator's view of the analysed trace as the run
    /// dispatched it: D = its process count, contiguous placement, one test batch per step.
    static func expertParallelSimulation(_ trace: RoutingTrace, run: RunDirectory) throws -> SimulationResult? {
        guard let ranks = run.expertParallel.first?.ranks.count, ranks > 0, trace.assignmentCount > 0 else { return nil }
        let c = run.configuration
        return try ExpertParallelSimulation.run(
            trace, groups: DispatchGroups(trace, groupTokens: c.batchSize * c.model.tokensPerImage),
            placement: .contiguous(experts: trace.expertCount, devices: ranks, layers: trace.layers.count),
            options: SimulationOptions(devices: ranks, model: ClusterModel(hidden: c.model.width, ffnHidden: c.model.expertHidden,
                                                                          bytesPerElement: 4)))
    }

    /// What an expert-parallel run's exchanges cost, measured per rank (`expert-parallel.jsonl`),
    /// and the simulator's rows per device for the analysed trace beside the measured ones.
    func measuredExpertParallelSection(_ b: inout ReportBuilder) {
        let records = run.expertParallel
        let training = records.filter { $0.phase == "train" }
        guard let ranks = records.first?.ranks.count, ranks > 0 else { return }
        b.heading(2, "Measured expert parallelism")
        let c = run.configuration
        b.paragraph("This run trained with `--parallel expert` on \(ranks) processes: each owned \(c.model.experts / ranks) "
                    + "of the \(c.model.experts) experts of every MoE layer and \(c.batchSize / ranks) images of every batch "
                    + "(docs/expert-parallel.md). Per rank, summed over the training steps (`expert-parallel.jsonl`): rows and "
                    + "bytes count what crossed to other processes (four exchanges a step), waiting is the time in the count "
                    + "exchanges (the wait for the slowest rank).")
        var t = MarkdownTable(["rank", "images", "expert compute", "all-to-all", "waiting", "rows sent", "MB sent"],
                              alignments: [.right, .right, .right, .right, .right, .right, .right])
        for r in 0..<ranks {
            let m = training.reduce(ExchangeMeasurements()) { $0 + ($1.ranks.count > r ? $1.ranks[r] : ExchangeMeasurements()) }
            let images = training.reduce(0) { $0 + ($1.images.count > r ? $1.images[r] : 0) }
            t.append([String(r), ReportFormat.count(images), CostSummary.formatSeconds(m.expertSeconds),
                      CostSummary.formatSeconds(m.exchangeSeconds), CostSummary.formatSeconds(m.waitSeconds),
                      ReportFormat.count(m.tokensSent), ReportFormat.number(Double(m.bytesSent) / 1e6, 1)])
        }
        b.table(t)
        guard let evaluation = records.last(where: { $0.phase == "evaluation" && $0.epoch == analysedEpoch }),
              let simulated = expertParallelSimulation else { return }
        b.paragraph("The evaluation after epoch \(analysedEpoch ?? 0), measured and simulated: `switchyard simulate` on its trace "
                    + "with D = \(ranks), contiguous placement and dispatch steps of one test batch (\(c.batchSize) images) "
                    + "predicts each device's rows from the routing alone. They agree exactly when every test batch "
                    + "splits evenly over the processes; a shorter last batch is split B/P images at a time by the "
                    + "trainer and evenly by the simulator.")
        var u = MarkdownTable(["rank", "expert rows, measured", "simulated", "rows sent, measured", "simulated"],
                              alignments: [.right, .right, .right, .right, .right])
        for r in 0..<ranks where r < evaluation.ranks.count {
            let m = evaluation.ranks[r]
            u.append([String(r), ReportFormat.count(m.expertRows),
                      ReportFormat.count(simulated.layers.reduce(0) { $0 + $1.deviceRows[r] }),
                      ReportFormat.count(m.dispatchedRowsSent),
                      ReportFormat.count(simulated.layers.reduce(0) { $0 + $1.deviceSentRows[r] })])
        }
        b.table(u)
    }
}
