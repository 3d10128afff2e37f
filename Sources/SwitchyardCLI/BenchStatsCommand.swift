import ArgumentParser
import SwitchyardRoutingStatistics

/// `switchyard bench stats`: throughput of the routing statistics on a synthetic trace.
struct BenchStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Time `analyze` on a synthetic trace of N routing records (default 10 million).",
        discussion: """
        The trace: records/layers tokens in images of 65 tokens with one of 10 labels each, \
        routed in every layer by a softmax router with a class-dependent preference (top-1, \
        capacity factor 1.25, so some tokens are dropped). Reports the median wall time of \
        full analyses (bootstrap intervals and the permutation test included) and the \
        process's peak resident memory, which includes the trace itself.

        Example:
          switchyard bench stats --records 10000000 --repetitions 3
        """
    )

    @Option(help: "(token, layer) routing records in the synthetic trace.")
    var records = 10_000_000

    @Option(help: "MoE layers.")
    var layers = 4

    @Option(help: "Experts per layer.")
    var experts = 8

    @Option(help: "Bootstrap resamples per analysis.")
    var bootstrap = 200

    @Option(help: "Permutations per analysis.")
    var permutations = 200

    @Option(help: "Timed analyses; the median is reported.")
    var repetitions = 3

    func validate() throws {
        guard records >= layers, layers >= 1, experts >= 1 else {
            throw ValidationError("need --records ≥ --layers ≥ 1 and --experts ≥ 1")
        }
        guard repetitions >= 1, bootstrap >= 0, permutations >= 0 else {
            throw ValidationError("--repetitions must be ≥ 1, --bootstrap and --permutations ≥ 0")
        }
    }

    func run() throws {
        let trace = StatisticsBenchmark.syntheticTrace(records: records, layers: layers, experts: experts, seed: 1)
        let options = AnalysisOptions(bootstrapResamples: bootstrap, permutations: permutations, seed: 0)
        let result = try StatisticsBenchmark.run(trace: trace, options: options, repetitions: repetitions)
        print(result.markdownTable)
    }
}
