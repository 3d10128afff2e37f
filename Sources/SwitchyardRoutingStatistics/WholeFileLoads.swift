import SwitchyardTraces

/// The loads of a whole trace file, counted in the pass that drew a sample from it
/// (`analyze --sample`, ``RoutingTraceCSV/sample(_:expertCount:units:using:)``): per layer and
/// over all layers, the same ``LoadStatistics`` that ``analyze(trace:options:)`` gives for the
/// whole file read into memory, without intervals (those come from the sample).
public struct WholeFileLoads: Codable, Sendable, Equatable {
    /// What the sample drew: "token" or "routing group".
    public var unit: String
    /// Units in the file and in the sample.
    public var unitsInFile: Int
    public var unitsKept: Int
    /// The whole file's tokens (largest token + 1) and rows.
    public var tokens: Int
    public var rows: Int
    /// How the sample was drawn.
    public var method: String
    /// One entry per layer, in block order.
    public var layers: [Layer]
    /// All layers: each (layer, expert) pair one cell, as in the analysis's "all layers".
    public var overall: LoadStatistics
    public var meanExpertsPerToken: Double

    public struct Layer: Codable, Sendable, Equatable {
        public var layer: Int
        public var load: LoadStatistics
        public var meanExpertsPerToken: Double

        enum CodingKeys: String, CodingKey {
            case layer, load, meanExpertsPerToken = "mean_experts_per_token"
        }
    }

    enum CodingKeys: String, CodingKey {
        case unit, unitsInFile = "units_in_file", unitsKept = "units_kept", tokens, rows, method, layers, overall
        case meanExpertsPerToken = "mean_experts_per_token"
    }
}

/// The whole file's loads from a sample's counts.
public func wholeFileLoads(_ sample: TraceSample) -> WholeFileLoads {
    let n = sample.tokensInFile
    let counts = sample.expertCounts.map { $0.map(Double.init) }
    let layers = sample.blockNumbers.indices.map { l -> WholeFileLoads.Layer in
        let without = n - sample.tokensWithExpert[l]
        let load = makeLoad(counts: counts[l], tokens: n, withoutExpert: without, dropped: without,
                            droppedDefinition: "no_expert", capacities: [], chi2: uniformChiSquare([counts[l]]))
        return WholeFileLoads.Layer(layer: sample.blockNumbers[l], load: load,
                                    meanExpertsPerToken: Double(load.assignments) / Double(n))
    }
    let without = layers.reduce(0) { $0 + $1.load.tokensWithoutExpert }
    let overall = makeLoad(counts: counts.flatMap { $0 }, tokens: n * layers.count, withoutExpert: without,
                           dropped: without, droppedDefinition: "no_expert", capacities: [],
                           chi2: uniformChiSquare(counts))
    return WholeFileLoads(
        unit: sample.unitName, unitsInFile: sample.unitsInFile, unitsKept: sample.unitsKept, tokens: n,
        rows: sample.rows, method: "reservoir sampling of whole units without replacement (Vitter 1985, Algorithm R)",
        layers: layers, overall: overall,
        meanExpertsPerToken: Double(overall.assignments) / Double(n * max(1, layers.count)))
}
