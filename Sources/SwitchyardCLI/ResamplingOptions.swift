import ArgumentParser
import SwitchyardRoutingStatistics

/// Options shared by `analyze`, `report` and `compare`: how the bootstrap intervals and the
/// permutation test are drawn.
struct ResamplingOptions: ParsableArguments {
    @Option(help: "Bootstrap resamples for the confidence intervals (0 = none, at most 100000).")
    var bootstrap = 200

    @Option(help: "Label permutations for the permutation tests (0 = none, at most 100000).")
    var permutations = 200

    @Option(help: "Seed of the bootstrap and permutation draws.")
    var seed: UInt64 = 0

    @Option(name: .customLong("layer-pairs"), help: ArgumentHelp("Layer-to-layer dependence of top-1 experts between consecutive layers (adjacent) or every pair of layers (all, with each pair's co-occurrence counts in the JSON).", valueName: "adjacent|all"))
    var layerPairs: LayerPairs = .adjacent

    func validate() throws {
        let most = AnalysisOptions.maximumResamples
        guard (0...most).contains(bootstrap) else {
            throw ValidationError("--bootstrap must be in 0...\(most), got \(bootstrap)")
        }
        guard (0...most).contains(permutations) else {
            throw ValidationError("--permutations must be in 0...\(most), got \(permutations)")
        }
    }

    /// Analysis options with these draws and every other setting at its default.
    var options: AnalysisOptions {
        var o = AnalysisOptions(bootstrapResamples: bootstrap, permutations: permutations, seed: seed)
        o.allLayerPairs = layerPairs == .all
        return o
    }
}

/// Which layer pairs the layer-to-layer dependence covers.
enum LayerPairs: String, ExpressibleByArgument, CaseIterable {
    case adjacent, all
}
