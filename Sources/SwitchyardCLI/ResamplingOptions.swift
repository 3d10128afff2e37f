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

    @Option(help: ArgumentHelp("Bootstrap within each class (class: a test set with fixed counts per class), over all units (none: a class mix that is itself random, as token ids), or by class unless the labels are token ids or more than 20 % of the units are in classes of fewer than 5 (auto).", valueName: "auto|class|none"))
    var stratify: Stratification = .automatic

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
        o.stratification = stratify
        return o
    }
}

extension Stratification: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument == "auto" ? "automatic" : argument) }
    public static var allValueStrings: [String] { ["auto", "class", "none"] }
}

/// Which layer pairs the layer-to-layer dependence covers.
enum LayerPairs: String, ExpressibleByArgument, CaseIterable {
    case adjacent, all
}
