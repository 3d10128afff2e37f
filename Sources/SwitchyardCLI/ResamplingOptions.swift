import ArgumentParser
import SwitchyardRoutingStatistics

/// Options shared by `analyze`, `report` and `compare`: how the bootstrap intervals and the
/// permutation test are drawn.
struct ResamplingOptions: ParsableArguments {
    @Option(help: "Bootstrap resamples for the confidence intervals (0 = none).")
    var bootstrap = 200

    @Option(help: "Label permutations for the mutual-information test (0 = none).")
    var permutations = 200

    @Option(help: "Seed of the bootstrap and permutation draws.")
    var seed: UInt64 = 0

    func validate() throws {
        guard bootstrap >= 0 else { throw ValidationError("--bootstrap must be 0 or more, got \(bootstrap)") }
        guard permutations >= 0 else { throw ValidationError("--permutations must be 0 or more, got \(permutations)") }
    }

    /// Analysis options with these draws and every other setting at its default.
    var options: AnalysisOptions {
        AnalysisOptions(bootstrapResamples: bootstrap, permutations: permutations, seed: seed)
    }
}
