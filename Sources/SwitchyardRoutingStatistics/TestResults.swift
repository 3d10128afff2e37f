/// A χ² test: statistic, degrees of freedom and upper-tail p-value.
public struct ChiSquareTest: Codable, Sendable, Equatable {
    /// The χ² statistic, or nil when undefined.
    @Nullable public var statistic: Double?
    /// Degrees of freedom.
    public var degreesOfFreedom: Int
    /// `P(χ²_df ≥ statistic)`, or nil when df < 1.
    @Nullable public var p: Double?

    /// A test result.
    public init(statistic: Double?, degreesOfFreedom: Int, p: Double?) {
        self.statistic = statistic
        self.degreesOfFreedom = degreesOfFreedom
        self.p = p
    }

    enum CodingKeys: String, CodingKey {
        case statistic, degreesOfFreedom = "df", p
    }
}

/// Association in a two-way contingency table (see ``Statistics/contingency(_:)``).
/// Empty rows and columns are left out of every number here.
public struct ContingencyStatistics: Codable, Sendable, Equatable {
    /// The table's total count.
    public var total: Double
    /// Rows with a non-zero total.
    public var rows: Int
    /// Columns with a non-zero total.
    public var columns: Int
    /// Mutual information between row and column, in bits.
    @Nullable public var mutualInformationBits: Double?
    /// The Miller–Madow corrected mutual information, bits (see
    /// ``Statistics/millerMadowMutualInformation(bits:cells:rows:columns:total:)``).
    @Nullable public var mutualInformationCorrectedBits: Double?
    /// Bergsma's bias-corrected Cramér's V (``Statistics/bergsmaCramersV(chi2:total:rows:columns:)``).
    @Nullable public var cramersVCorrected: Double?
    /// `2I / (H(rows) + H(columns))`, in [0, 1].
    @Nullable public var normalizedMutualInformation: Double?
    /// Entropy of the row margin, in bits.
    @Nullable public var rowEntropyBits: Double?
    /// Entropy of the column margin, in bits.
    @Nullable public var columnEntropyBits: Double?
    /// Pearson's χ² statistic of independence (nil when df = 0).
    @Nullable public var chi2: Double?
    /// `(rows − 1)(columns − 1)` over non-empty rows and columns.
    public var chi2DF: Int
    /// Upper-tail p-value of `chi2` (nil when df = 0).
    @Nullable public var chi2P: Double?
    /// Cramér's V in [0, 1] (nil when a margin has a single non-empty category).
    @Nullable public var cramersV: Double?
    /// The Miller–Madow and Bergsma corrections before clamping at 0 (MI in bits, V²), which
    /// the bootstrap resamples: clamping each replicate would bias their mean near 0.
    var unclampedMutualInformationBits: Double? = nil
    var unclampedCramersVSquared: Double? = nil

    /// A result.
    public init(total: Double, rows: Int, columns: Int, mutualInformationBits: Double?,
                mutualInformationCorrectedBits: Double? = nil, cramersVCorrected: Double? = nil,
                normalizedMutualInformation: Double?, rowEntropyBits: Double?, columnEntropyBits: Double?,
                chi2: Double?, chi2DF: Int, chi2P: Double?, cramersV: Double?) {
        self.total = total
        self.rows = rows
        self.columns = columns
        self.mutualInformationBits = mutualInformationBits
        self.mutualInformationCorrectedBits = mutualInformationCorrectedBits
        self.cramersVCorrected = cramersVCorrected
        self.normalizedMutualInformation = normalizedMutualInformation
        self.rowEntropyBits = rowEntropyBits
        self.columnEntropyBits = columnEntropyBits
        self.chi2 = chi2
        self.chi2DF = chi2DF
        self.chi2P = chi2P
        self.cramersV = cramersV
    }

    enum CodingKeys: String, CodingKey {
        case total, rows, columns
        case mutualInformationBits = "mutual_information_bits"
        case mutualInformationCorrectedBits = "mutual_information_miller_madow_bits"
        case cramersVCorrected = "cramers_v_bias_corrected"
        case normalizedMutualInformation = "normalized_mutual_information"
        case rowEntropyBits = "row_entropy_bits", columnEntropyBits = "column_entropy_bits"
        case chi2, chi2DF = "chi2_df", chi2P = "chi2_p", cramersV = "cramers_v"
    }
}

/// The Kruskal–Wallis H test (see ``Statistics/kruskalWallis(_:)``).
public struct KruskalWallisTest: Codable, Sendable, Equatable {
    /// The tie-corrected statistic H, or nil when undefined.
    @Nullable public var h: Double?
    /// Non-empty groups minus one.
    public var degreesOfFreedom: Int
    /// `P(χ²_df ≥ H)`, or nil.
    @Nullable public var p: Double?
    /// The tie correction `1 − Σ(t³ − t)/(N³ − N)` that H was divided by.
    @Nullable public var tieCorrection: Double?
    /// Groups with at least one member.
    public var groups: Int

    /// A result.
    public init(h: Double?, degreesOfFreedom: Int, p: Double?, tieCorrection: Double?, groups: Int) {
        self.h = h
        self.degreesOfFreedom = degreesOfFreedom
        self.p = p
        self.tieCorrection = tieCorrection
        self.groups = groups
    }

    enum CodingKeys: String, CodingKey {
        case h, degreesOfFreedom = "df", p, tieCorrection = "tie_correction", groups
    }
}

/// Welch's t-test of two groups (see ``Statistics/welchTTest(_:_:alternative:)``).
public struct WelchTTest: Codable, Sendable, Equatable {
    /// Mean of the first group.
    public var meanA: Double
    /// Mean of the second group.
    public var meanB: Double
    /// Sample variance (n − 1) of the first group.
    public var varianceA: Double
    /// Sample variance (n − 1) of the second group.
    public var varianceB: Double
    /// Size of the first group.
    public var countA: Int
    /// Size of the second group.
    public var countB: Int
    /// `meanA − meanB`.
    public var difference: Double
    /// The t statistic, or nil when both variances are zero.
    @Nullable public var t: Double?
    /// Welch–Satterthwaite degrees of freedom.
    @Nullable public var degreesOfFreedom: Double?
    /// The p-value for ``alternative``.
    @Nullable public var p: Double?
    /// The alternative hypothesis the p-value is for.
    public var alternative: Alternative

    /// A result.
    public init(meanA: Double, meanB: Double, varianceA: Double, varianceB: Double, countA: Int,
                countB: Int, difference: Double, t: Double?, degreesOfFreedom: Double?, p: Double?,
                alternative: Alternative) {
        self.meanA = meanA
        self.meanB = meanB
        self.varianceA = varianceA
        self.varianceB = varianceB
        self.countA = countA
        self.countB = countB
        self.difference = difference
        self.t = t
        self.degreesOfFreedom = degreesOfFreedom
        self.p = p
        self.alternative = alternative
    }

    enum CodingKeys: String, CodingKey {
        case meanA = "mean_a", meanB = "mean_b", varianceA = "variance_a", varianceB = "variance_b"
        case countA = "count_a", countB = "count_b", difference, t, degreesOfFreedom = "df", p, alternative
    }
}
