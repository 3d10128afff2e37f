import SwitchyardRoutingStatistics

/// How a report adjusts the p-values of one family of tests.
public enum MultipleComparisonCorrection: String, CaseIterable, Sendable {
    /// Holm's step-down adjustment (Holm 1979): controls the family-wise error rate, the default.
    case holm
    /// Benjamini–Hochberg (1995): controls the false discovery rate; exploratory.
    case bh

    /// "Holm" or "BH".
    public var label: String { self == .holm ? "Holm" : "BH" }

    /// The adjusted p-values of one family (nil entries left out of it).
    public func adjust(_ p: [Double?]) -> [Double?] {
        self == .holm ? Statistics.holm(p) : Statistics.benjaminiHochberg(p)
    }

    /// What the adjustment controls, for report prose.
    public var meaning: String {
        self == .holm
            ? "Holm's adjustment controls the chance of any false finding among them"
            : "the Benjamini–Hochberg adjustment (exploratory) controls the expected share of false findings among the differences it calls real, not the chance of any"
    }
}
