/// What ``analyze(trace:options:)`` computes beyond the point statistics, and how.
public struct AnalysisOptions: Sendable, Equatable {
    /// The most bootstrap resamples and the most permutations accepted: every replicate's
    /// headline numbers are kept per scope (for 16 layers, 100,000 replicates hold about
    /// 80 MB), and a permutation p-value's resolution 1/(B + 1) is then 10⁻⁵.
    public static let maximumResamples = 100_000

    /// Bootstrap resamples for the confidence intervals; 0 turns the intervals off.
    public var bootstrapResamples: Int
    /// Confidence level of the intervals, in (0, 1).
    public var confidenceLevel: Double
    /// Label permutations for the mutual-information test; 0 turns the test off.
    public var permutations: Int
    /// The seed of every random draw (bootstrap and permutations use separate streams).
    public var seed: UInt64
    /// What the bootstrap resamples and the permutation test permutes.
    public var resamplingUnit: ResamplingUnit
    /// Whether the JSON carries the class × expert, position × expert and class × expert
    /// probability tables (they can be large for all layers together).
    public var includeTables: Bool
    /// The file the trace came from, named in error messages.
    public var source: String?
    /// Whether the layer-to-layer dependence covers every pair of layers (with each pair's
    /// top-1 co-occurrence counts) instead of consecutive layers only.
    public var allLayerPairs = false
    /// Whether the bootstrap keeps each class's number of units (``Stratification``).
    public var stratification = Stratification.automatic

    /// Options; the defaults are 200 resamples, 95 % intervals, 200 permutations, seed 0,
    /// automatic resampling unit, tables included.
    public init(bootstrapResamples: Int = 200, confidenceLevel: Double = 0.95, permutations: Int = 200,
                seed: UInt64 = 0, resamplingUnit: ResamplingUnit = .automatic, includeTables: Bool = true,
                source: String? = nil) {
        self.bootstrapResamples = bootstrapResamples
        self.confidenceLevel = confidenceLevel
        self.permutations = permutations
        self.seed = seed
        self.resamplingUnit = resamplingUnit
        self.includeTables = includeTables
        self.source = source
    }
}

/// Whether the bootstrap resamples within each class, keeping the class composition (a test
/// set designed with fixed counts per class), or over all units (a composition that is itself
/// random, as a corpus's token ids). docs/statistics.md, "What the intervals claim to cover".
public enum Stratification: String, Codable, Sendable, Equatable, CaseIterable {
    /// By class, unless the labels are token ids (a trace of sequences) or the classes are
    /// sparse: more than 20 % of the units in classes of fewer than 5 units.
    case automatic
    /// Always within each class.
    case byClass = "class"
    /// Never: all units in one stratum.
    case none
}

/// The unit of resampling. Tokens of one image share the image's label and content, so
/// they are not independent; resampling whole images keeps that dependence.
public enum ResamplingUnit: String, Codable, Sendable, Equatable, CaseIterable {
    /// Images when the positions show tokens grouped by image (runs of consecutive
    /// positions that all start at the same position, one label per run), else tokens.
    case automatic
    /// Individual tokens.
    case tokens
    /// Whole images (runs of consecutive positions); needs positions that group tokens.
    case images
}
