import CGSL
import SwitchyardFileIO
import Foundation

/// The statistical building blocks behind ``analyze(trace:options:)``, usable on their
/// own: inequality measures, entropies, contingency-table tests, goodness of fit,
/// Kruskal–Wallis, Welch's t-test, Cohen's κ and percentile intervals. Formulas and
/// their sources are in `docs/statistics.md`; distribution tails come from GSL.
public enum Statistics {
    // MARK: Inequality and entropy

    /// The Gini coefficient of non-negative values,
    /// `G = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄) = Σᵢ (2i − n − 1) x₍ᵢ₎ / (n Σ x)` with `x₍ᵢ₎` sorted
    /// ascending (i from 1). 0 for equal values, (n − 1)/n when one value holds
    /// everything. Nil for no values or a zero sum. Sorting is GSL's `gsl_sort`.
    public static func gini(_ values: [Double]) -> Double? {
        let n = values.count
        guard n > 0 else { return nil }
        var sorted = values
        sorted.withUnsafeMutableBufferPointer { gsl_sort($0.baseAddress, 1, n) }
        var weighted = 0.0, sum = 0.0
        for i in 0..<n {
            weighted += Double(2 * (i + 1) - n - 1) * sorted[i]
            sum += sorted[i]
        }
        guard sum > 0 else { return nil }
        return finite(weighted / (Double(n) * sum))
    }

    /// The Gini coefficient of a population given as a histogram of integer values:
    /// `counts[v]` members have value `values[v]` (ascending). Same definition as
    /// ``gini(_:)``, in O(number of distinct values).
    static func giniOfHistogram(values: [Double], counts: [Double]) -> Double? {
        // Σᵢ Σⱼ |xᵢ − xⱼ| = 2 Σ_v c_v x_v (C_<v − C_>v) with C the member counts below/above.
        let n = counts.reduce(0, +)
        guard n > 0 else { return nil }
        var total = 0.0, below = 0.0, sumAbs = 0.0, sum = 0.0
        for v in counts.indices { total += counts[v] }
        for v in counts.indices {
            let above = total - below - counts[v]
            sumAbs += counts[v] * values[v] * (below - above)
            sum += counts[v] * values[v]
            below += counts[v]
        }
        guard sum > 0 else { return nil }
        // sumAbs here is Σ_v c_v x_v (C_< − C_>) = ½ Σᵢ Σⱼ |xᵢ − xⱼ|.
        return finite(sumAbs / (n * sum))
    }

    /// The Shannon entropy `−Σ pᵢ log pᵢ` of the distribution proportional to
    /// `weights` (zeros contribute 0), in nats, or in bits when `bits` is true.
    /// Nil when the weights sum to zero.
    public static func entropy(_ weights: [Double], bits: Bool = false) -> Double? {
        let total = weights.reduce(0, +)
        guard total > 0 else { return nil }
        var h = 0.0
        for w in weights where w > 0 {
            let p = w / total
            h -= p * log(p)
        }
        return bits ? h / M_LN2 : h
    }

    // MARK: Goodness of fit and contingency tables

    /// Pearson's χ² goodness-of-fit test of `observed` against `expected` counts,
    /// `χ² = Σ (Oᵢ − Eᵢ)² / Eᵢ` over cells with `Eᵢ > 0`, with
    /// `degreesOfFreedom` (default: cells with `Eᵢ > 0`, minus one) and the upper tail
    /// `p = Q_χ²(χ²; df)` from `gsl_cdf_chisq_Q`. Nil statistic for no positive
    /// expectation; nil p for df < 1.
    public static func chiSquareGoodnessOfFit(observed: [Double], expected: [Double],
                                              degreesOfFreedom: Int? = nil) -> ChiSquareTest {
        _ = GSLErrorHandling.installed
        precondition(observed.count == expected.count, "observed and expected differ in length")
        var chi2 = 0.0, cells = 0
        for i in observed.indices where expected[i] > 0 {
            let d = observed[i] - expected[i]
            chi2 += d * d / expected[i]
            cells += 1
        }
        guard cells > 0 else { return ChiSquareTest(statistic: nil, degreesOfFreedom: 0, p: nil) }
        let df = degreesOfFreedom ?? (cells - 1)
        let p: Double? = df >= 1 ? finite(gsl_cdf_chisq_Q(chi2, Double(df))) : nil
        return ChiSquareTest(statistic: finite(chi2), degreesOfFreedom: df, p: p)
    }

    /// Mutual information, χ² test of independence and Cramér's V of a two-way table
    /// of counts (`table[row][column]`, all rows the same length; fractional counts are
    /// allowed). Rows and columns whose total is zero are left out before anything is
    /// computed, so they change neither the statistic nor the degrees of freedom.
    ///
    /// - `I = Σ pᵢⱼ log₂(pᵢⱼ / (pᵢ· p·ⱼ))` bits (Shannon 1948; Cover & Thomas 2006, §2.3);
    /// - normalised `NMI = 2I / (H(rows) + H(columns))` (the arithmetic-mean
    ///   normalisation of Strehl & Ghosh 2002 / scikit-learn's default);
    /// - `χ² = Σ (nᵢⱼ − Eᵢⱼ)² / Eᵢⱼ`, `Eᵢⱼ = nᵢ· n·ⱼ / n`, `df = (r − 1)(c − 1)`, no
    ///   continuity correction (Pearson 1900; Agresti 2013, §3.2), `p` from `gsl_cdf_chisq_Q`;
    /// - `V = √(χ² / (n · min(r − 1, c − 1)))` (Cramér 1946, §21.9), without bias correction.
    public static func contingency(_ table: [[Double]]) -> ContingencyStatistics {
        let rowCount = table.count
        let columnCount = table.first?.count ?? 0
        var flat = [Double](repeating: 0, count: rowCount * columnCount)
        for r in 0..<rowCount {
            precondition(table[r].count == columnCount, "contingency table rows differ in length")
            for c in 0..<columnCount { flat[r * columnCount + c] = table[r][c] }
        }
        return contingency(flat: flat, rows: rowCount, columns: columnCount)
    }

    /// ``contingency(_:)`` on a row-major `rows × columns` table.
    static func contingency(flat: [Double], rows: Int, columns: Int) -> ContingencyStatistics {
        guard !flat.isEmpty else { return [0.0].withUnsafeBufferPointer { contingency(flat: $0.baseAddress!, rows: 0, columns: 0) } }
        return flat.withUnsafeBufferPointer { contingency(flat: $0.baseAddress!, rows: rows, columns: columns) }
    }

    /// ``contingency(_:)`` on a row-major `rows × columns` table in memory.
    static func contingency(flat t: UnsafePointer<Double>, rows: Int, columns: Int) -> ContingencyStatistics {
        _ = GSLErrorHandling.installed
        var rowSum = [Double](repeating: 0, count: rows)
        var columnSum = [Double](repeating: 0, count: columns)
        let n = margins(t, rows: rows, columns: columns, rowSum: &rowSum, columnSum: &columnSum)
        let usedRows = rowSum.filter { $0 > 0 }.count
        let usedColumns = columnSum.filter { $0 > 0 }.count
        guard n > 0 else {
            return ContingencyStatistics(total: 0, rows: 0, columns: 0, mutualInformationBits: nil,
                                         mutualInformationCorrectedBits: nil, cramersVCorrected: nil,
                                         normalizedMutualInformation: nil, rowEntropyBits: nil,
                                         columnEntropyBits: nil, chi2: nil, chi2DF: 0, chi2P: nil,
                                         cramersV: nil)
        }
        var mi = 0.0, chi2 = 0.0, cells = 0
        for r in 0..<rows where rowSum[r] > 0 {
            for c in 0..<columns where columnSum[c] > 0 {
                let observed = t[r * columns + c]
                if observed > 0 { cells += 1 }
                let expected = rowSum[r] * columnSum[c] / n
                let d = observed - expected
                chi2 += d * d / expected
                if observed > 0 { mi += observed / n * log(observed / expected) }
            }
        }
        let miBits = max(0, mi / M_LN2)
        let hRow = entropy(rowSum, bits: true) ?? 0
        let hColumn = entropy(columnSum, bits: true) ?? 0
        let nmi: Double? = hRow + hColumn > 0 ? 2 * miBits / (hRow + hColumn) : nil
        let df = (usedRows - 1) * (usedColumns - 1)
        let p: Double? = df >= 1 ? finite(gsl_cdf_chisq_Q(chi2, Double(df))) : nil
        let k = min(usedRows, usedColumns) - 1
        let v: Double? = k >= 1 ? finite((chi2 / (n * Double(k))).squareRoot()) : nil
        var result = ContingencyStatistics(total: n, rows: usedRows, columns: usedColumns,
                                     mutualInformationBits: finite(miBits),
                                     mutualInformationCorrectedBits: millerMadowMutualInformation(
                                        bits: mi / M_LN2, cells: cells, rows: usedRows, columns: usedColumns, total: n),
                                     cramersVCorrected: bergsmaCramersV(chi2: chi2, total: n, rows: usedRows,
                                                                        columns: usedColumns),
                                     normalizedMutualInformation: nmi.flatMap(finite),
                                     rowEntropyBits: finite(hRow), columnEntropyBits: finite(hColumn),
                                     chi2: df >= 1 ? finite(chi2) : nil, chi2DF: df, chi2P: p,
                                     cramersV: v)
        result.unclampedMutualInformationBits = finite(mi / M_LN2 - Double(cells - usedRows - usedColumns + 1) / (2 * n * M_LN2))
        result.unclampedCramersVSquared = bergsmaCramersVSquared(chi2: chi2, total: n, rows: usedRows, columns: usedColumns)
        return result
    }

    /// The row and column sums of a row-major table (written into the first `rows` and
    /// `columns` entries of the buffers) and its total.
    private static func margins(_ t: UnsafePointer<Double>, rows: Int, columns: Int,
                                rowSum: inout [Double], columnSum: inout [Double]) -> Double {
        for c in 0..<columns { columnSum[c] = 0 }
        var n = 0.0
        for r in 0..<rows {
            var s = 0.0
            for c in 0..<columns {
                let v = t[r * columns + c]
                s += v
                columnSum[c] += v
            }
            rowSum[r] = s
            n += s
        }
        return n
    }

    /// The plug-in mutual information in bits of a row-major table, exactly as
    /// ``contingency(flat:rows:columns:)`` computes it (the same sums in the same order), nil
    /// for an empty table; the margins go to `rowSum` and `columnSum`, grown as needed, so that
    /// a permutation loop allocates nothing.
    static func mutualInformationBits(flat t: UnsafePointer<Double>, rows: Int, columns: Int,
                                      rowSum: inout [Double], columnSum: inout [Double]) -> Double? {
        if rowSum.count < rows { rowSum = [Double](repeating: 0, count: rows) }
        if columnSum.count < columns { columnSum = [Double](repeating: 0, count: columns) }
        let n = margins(t, rows: rows, columns: columns, rowSum: &rowSum, columnSum: &columnSum)
        guard n > 0 else { return nil }
        var mi = 0.0
        for r in 0..<rows where rowSum[r] > 0 {
            for c in 0..<columns where columnSum[c] > 0 {
                let observed = t[r * columns + c]
                let expected = rowSum[r] * columnSum[c] / n
                if observed > 0 { mi += observed / n * log(observed / expected) }
            }
        }
        return finite(max(0, mi / M_LN2))
    }

    // MARK: Bias corrections

    /// The Miller–Madow corrected mutual information in bits: the plug-in value minus the
    /// first-order bias of the three entropies' plug-in estimates, `(m − 1)/(2N)` nats each
    /// with m the non-empty bins (Miller 1955), i.e.
    /// `I_MM = I − (m_rc − m_r − m_c + 1) / (2N ln 2)`, which for a table without empty cells is
    /// `I − (r − 1)(c − 1)/(2N ln 2)`, the mean of the null distribution `χ²_df / (2N ln 2)`
    /// (Wilks 1938). Clamped at 0; nil for N < 1.
    static func millerMadowMutualInformation(bits: Double, cells: Int, rows: Int, columns: Int,
                                             total n: Double) -> Double? {
        guard n >= 1, bits.isFinite else { return nil }
        let bias = Double(cells - rows - columns + 1) / (2 * n * M_LN2)
        return max(0, bits - bias)
    }

    /// Bergsma's bias-corrected Cramér's V (Bergsma 2013, J. Korean Stat. Soc. 42, 323–328):
    /// `φ̃² = max(0, χ²/n − (r − 1)(c − 1)/(n − 1))`, `r̃ = r − (r − 1)²/(n − 1)`,
    /// `c̃ = c − (c − 1)²/(n − 1)`, `Ṽ = √(φ̃² / min(r̃ − 1, c̃ − 1))` over non-empty rows r and
    /// columns c. Nil when n ≤ 1 or `min(r̃, c̃) ≤ 1`.
    public static func bergsmaCramersV(chi2: Double, total n: Double, rows r: Int, columns c: Int) -> Double? {
        bergsmaCramersVSquared(chi2: chi2, total: n, rows: r, columns: c).map { max(0, $0).squareRoot() }
    }

    /// Ṽ² before the clamp of φ̃² at 0 (negative when χ² is below its expectation under independence).
    static func bergsmaCramersVSquared(chi2: Double, total n: Double, rows r: Int, columns c: Int) -> Double? {
        guard n > 1, r >= 2, c >= 2, chi2.isFinite else { return nil }
        let phi2 = chi2 / n - Double((r - 1) * (c - 1)) / (n - 1)
        let rt = Double(r) - Double((r - 1) * (r - 1)) / (n - 1)
        let ct = Double(c) - Double((c - 1) * (c - 1)) / (n - 1)
        let m = min(rt - 1, ct - 1)
        guard m > 0 else { return nil }
        return finite(phi2 / m)
    }

    /// CV² of per-expert counts (population variance, divisor E) from the unbiased estimate of
    /// `Σ p²` under multinomial sampling of the A assignments,
    /// `E[Σ c(c − 1)] = A(A − 1) Σ p²`: `CV²_u = E · Σ c_e(c_e − 1) / (A(A − 1)) − 1`. Unbiased
    /// for independent assignments; may be negative (a sample more even than chance). Nil for A < 2.
    public static func unbiasedCVSquared(_ counts: [Double]) -> Double? {
        let a = counts.reduce(0, +)
        guard a >= 2, !counts.isEmpty else { return nil }
        var s = 0.0
        for c in counts { s += c * (c - 1) }
        return finite(Double(counts.count) * s / (a * (a - 1)) - 1)
    }

    /// The Miller–Madow corrected entropy `H + (m − 1)/(2N)` in nats (Miller 1955), m the
    /// non-empty bins and N the total; nil for a zero total.
    public static func millerMadowEntropy(_ counts: [Double]) -> Double? {
        guard let h = entropy(counts) else { return nil }
        let n = counts.reduce(0, +), m = counts.filter { $0 > 0 }.count
        return h + Double(m - 1) / (2 * n)
    }

    // MARK: Effect sizes

    /// The confidence interval of `meanA − meanB` from Welch's test: `d ± t_{(1+c)/2, ν} · SE`,
    /// `SE = √(s²_a/n_a + s²_b/n_b)`, ν Welch–Satterthwaite (Welch 1947). Equals statsmodels'
    /// `CompareMeans(...).tconfint_diff(usevar="unequal")`. Nil when ν is undefined.
    public static func welchDifferenceInterval(_ w: WelchTTest, confidence: Double = 0.95) -> (lower: Double, upper: Double)? {
        _ = GSLErrorHandling.installed
        guard let df = w.degreesOfFreedom, df > 0, confidence > 0, confidence < 1 else { return nil }
        let se = (w.varianceA / Double(w.countA) + w.varianceB / Double(w.countB)).squareRoot()
        let half = gsl_cdf_tdist_Pinv((1 + confidence) / 2, df) * se
        return (w.difference - half, w.difference + half)
    }

    /// Hedges' g: Cohen's d with the pooled standard deviation
    /// `√(((n_a − 1)s²_a + (n_b − 1)s²_b)/(n_a + n_b − 2))`, times the small-sample correction
    /// `J = 1 − 3/(4(n_a + n_b) − 9)` (Hedges 1981; Hedges & Olkin 1985, eq. 5.10). Nil when the
    /// pooled deviation is 0 or n_a + n_b < 3.
    public static func hedgesG(_ w: WelchTTest) -> Double? {
        let na = Double(w.countA), nb = Double(w.countB)
        guard na + nb > 2 else { return nil }
        let pooled = (((na - 1) * w.varianceA + (nb - 1) * w.varianceB) / (na + nb - 2)).squareRoot()
        guard pooled > 0 else { return nil }
        return finite((w.meanA - w.meanB) / pooled * (1 - 3 / (4 * (na + nb) - 9)))
    }

    /// The smallest true difference |μ_A − μ_B| that Welch's two-sided test at level α would
    /// detect with probability `power`, given the groups' sizes and observed variances:
    /// `(t_{1−α/2, ν} + t_{power, ν}) · SE`, `SE = √(s²_a/n_a + s²_b/n_b)`, ν Welch's (the usual
    /// power approximation of a two-sample t-test, Cohen 1988 §2.3 and Lenth 2001 §3, with t
    /// quantiles). It is how small a difference these seeds can resolve: a smaller one is not
    /// ruled out by "not distinguishable". Nil when ν or SE is undefined or 0.
    public static func minimumDetectableDifference(_ w: WelchTTest, alpha: Double = 0.05, power: Double = 0.8) -> Double? {
        _ = GSLErrorHandling.installed
        guard let df = w.degreesOfFreedom, df > 0, alpha > 0, alpha < 1, power > 0, power < 1 else { return nil }
        let se = (w.varianceA / Double(w.countA) + w.varianceB / Double(w.countB)).squareRoot()
        guard se > 0 else { return nil }
        return finite((gsl_cdf_tdist_Pinv(1 - alpha / 2, df) + gsl_cdf_tdist_Pinv(power, df)) * se)
    }

    /// The differences A − B of the runs that share a seed, in the order of `a` (a seed's first
    /// run in A against its last in B; non-finite values left out): what ``pairedTTest(_:)`` tests.
    public static func seedDifferences(_ a: [(seed: Int, value: Double?)], _ b: [(seed: Int, value: Double?)]) -> [Double] {
        var bySeed: [Int: Double] = [:]
        for (seed, value) in b { if let value, value.isFinite { bySeed[seed] = value } }
        var d: [Double] = [], seen = Set<Int>()
        for (seed, value) in a {
            if let value, value.isFinite, let w = bySeed[seed], seen.insert(seed).inserted { d.append(value - w) }
        }
        return d
    }

    /// Student's paired t-test of differences d_i = a_i − b_i (Student 1908; runs paired by seed
    /// share the initialisation draws and the data order): `t = d̄/(s_d/√n)`, ν = n − 1, two-sided
    /// p. Equals `scipy.stats.ttest_rel`. Nil for fewer than two pairs; t and p nil when every
    /// difference is the same.
    public static func pairedTTest(_ d: [Double]) -> (mean: Double, t: Double?, degreesOfFreedom: Double, p: Double?)? {
        _ = GSLErrorHandling.installed
        let n = Double(d.count)
        guard d.count >= 2 else { return nil }
        let mean = d.reduce(0, +) / n
        let sd = (d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        guard sd > 0 else { return (mean, nil, n - 1, nil) }
        let t = mean / (sd / n.squareRoot())
        return (mean, t, n - 1, min(1, 2 * gsl_cdf_tdist_Q(abs(t), n - 1)))
    }

    // MARK: Multiple comparisons

    /// Holm's step-down adjusted p-values (Holm 1979) of one family of tests, nil entries left
    /// out of the family and kept nil: with the m p-values sorted ascending,
    /// `p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎)`. Rejecting `p̃ < α` controls the family-wise
    /// error rate at α under any dependence. Equals
    /// `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`.
    public static func holm(_ p: [Double?]) -> [Double?] {
        let present = p.indices.filter { p[$0] != nil }.sorted { p[$0]! < p[$1]! }
        let m = present.count
        var out = [Double?](repeating: nil, count: p.count)
        var running = 0.0
        for (i, index) in present.enumerated() {
            running = max(running, min(1, Double(m - i) * p[index]!))
            out[index] = running
        }
        return out
    }

    /// Benjamini–Hochberg adjusted p-values (Benjamini & Hochberg 1995; exploratory: controls
    /// the false discovery rate, not the family-wise error), nil entries left out:
    /// `p̃₍ᵢ₎ = min_{j ≥ i} min(1, m p₍ⱼ₎ / j)`. Equals `multipletests(p, method="fdr_bh")[1]`.
    public static func benjaminiHochberg(_ p: [Double?]) -> [Double?] {
        let present = p.indices.filter { p[$0] != nil }.sorted { p[$0]! < p[$1]! }
        let m = present.count
        var out = [Double?](repeating: nil, count: p.count)
        var running = 1.0
        for (i, index) in present.enumerated().reversed() {
            running = min(running, min(1, Double(m) * p[index]! / Double(i + 1)))
            out[index] = running
        }
        return out
    }

    // MARK: Kruskal–Wallis

    /// The Kruskal–Wallis H test (Kruskal & Wallis 1952) that `groups` come from the same
    /// distribution, with mid-ranks for ties and the tie correction
    /// `H' = H / (1 − Σ(t³ − t)/(N³ − N))`, and `p = Q_χ²(H'; g − 1)` from `gsl_cdf_chisq_Q`
    /// (g = non-empty groups). Equals `scipy.stats.kruskal`. Nil H and p when fewer than
    /// two groups are non-empty or all values are tied. Pooled ranks come from GSL's
    /// `gsl_sort_index`.
    public static func kruskalWallis(_ groups: [[Double]]) -> KruskalWallisTest {
        var pooled: [Double] = [], group: [Int] = []
        for (g, values) in groups.enumerated() {
            pooled += values
            group += [Int](repeating: g, count: values.count)
        }
        let n = pooled.count
        var order = [Int](repeating: 0, count: n)
        if n > 0 {
            order.withUnsafeMutableBufferPointer { op in
                pooled.withUnsafeBufferPointer { pp in gsl_sort_index(op.baseAddress, pp.baseAddress, 1, n) }
            }
        }
        // Collapse equal values into distinct levels, with per-group counts per level.
        var levelCounts: [[Double]] = []   // level → per-group counts
        var i = 0
        while i < n {
            var j = i
            var counts = [Double](repeating: 0, count: groups.count)
            while j < n && pooled[order[j]] == pooled[order[i]] {
                counts[group[order[j]]] += 1
                j += 1
            }
            levelCounts.append(counts)
            i = j
        }
        return kruskalWallis(levelCounts: levelCounts, groupCount: groups.count)
    }

    /// Kruskal–Wallis from a table `levelCounts[level][group]` of how many members of each
    /// group take each distinct value, levels in ascending order of value. O(levels · groups).
    static func kruskalWallis(levelCounts: [[Double]], groupCount: Int) -> KruskalWallisTest {
        _ = GSLErrorHandling.installed
        var groupN = [Double](repeating: 0, count: groupCount)
        var groupRankSum = [Double](repeating: 0, count: groupCount)
        var n = 0.0, ties = 0.0
        for level in levelCounts { n += level.reduce(0, +) }
        var below = 0.0
        for level in levelCounts {
            let t = level.reduce(0, +)
            guard t > 0 else { continue }
            let midRank = below + (t + 1) / 2
            for g in 0..<groupCount where level[g] > 0 {
                groupN[g] += level[g]
                groupRankSum[g] += level[g] * midRank
            }
            ties += t * t * t - t
            below += t
        }
        let used = groupN.filter { $0 > 0 }.count
        let correction = n > 1 ? 1 - ties / (n * n * n - n) : 0
        guard used >= 2, n > 1, correction > 0 else {
            return KruskalWallisTest(h: nil, degreesOfFreedom: max(used - 1, 0), p: nil,
                                     tieCorrection: finite(correction), groups: used)
        }
        // H = 12 / (N(N + 1)) Σ_g n_g (R̄_g − (N + 1)/2)², the form without cancellation.
        let centre = (n + 1) / 2
        var s = 0.0
        for g in 0..<groupCount where groupN[g] > 0 {
            let d = groupRankSum[g] / groupN[g] - centre
            s += groupN[g] * d * d
        }
        let h = 12 / (n * (n + 1)) * s / correction
        let p = gsl_cdf_chisq_Q(h, Double(used - 1))
        return KruskalWallisTest(h: finite(h), degreesOfFreedom: used - 1, p: finite(p),
                                 tieCorrection: finite(correction), groups: used)
    }

    // MARK: Two-group comparison

    /// Welch's unequal-variance t-test (Welch 1947) of the means of `a` and `b`:
    /// `t = (x̄_a − x̄_b) / √(s²_a/n_a + s²_b/n_b)` with sample variances (n − 1), the
    /// Welch–Satterthwaite degrees of freedom
    /// `ν = (s²_a/n_a + s²_b/n_b)² / ((s²_a/n_a)²/(n_a − 1) + (s²_b/n_b)²/(n_b − 1))`,
    /// and p from GSL's Student t tails (`gsl_cdf_tdist_Q`/`_P`). Means and variances are
    /// `gsl_stats_mean`/`gsl_stats_variance`. Matches `scipy.stats.ttest_ind(a, b,
    /// equal_var=False, alternative=…)`. t, ν and p are nil when both variances are 0.
    ///
    /// - Throws: ``InputError`` when a group has fewer than two values or a value is not finite.
    public static func welchTTest(_ a: [Double], _ b: [Double],
                                  alternative: Alternative = .twoSided) throws -> WelchTTest {
        _ = GSLErrorHandling.installed
        for (name, values) in [("first", a), ("second", b)] {
            guard values.count >= 2 else {
                throw InputError(location: "\(name) group",
                                 message: "Welch's t-test needs at least 2 values per group, got \(values.count)")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw InputError(location: "\(name) group, value \(bad)",
                                 message: "value is \(values[bad]), expected a finite number")
            }
        }
        let meanA = gsl_stats_mean(a, 1, a.count), meanB = gsl_stats_mean(b, 1, b.count)
        let varA = gsl_stats_variance_m(a, 1, a.count, meanA)
        let varB = gsl_stats_variance_m(b, 1, b.count, meanB)
        let na = Double(a.count), nb = Double(b.count)
        let seA = varA / na, seB = varB / nb
        let se2 = seA + seB
        var t: Double? = nil, df: Double? = nil, p: Double? = nil
        if se2 > 0 {
            let tv = (meanA - meanB) / se2.squareRoot()
            let dfv = se2 * se2 / (seA * seA / (na - 1) + seB * seB / (nb - 1))
            t = tv; df = dfv
            switch alternative {
            case .twoSided: p = min(1, 2 * gsl_cdf_tdist_Q(abs(tv), dfv))
            case .less: p = gsl_cdf_tdist_P(tv, dfv)
            case .greater: p = gsl_cdf_tdist_Q(tv, dfv)
            }
        }
        return WelchTTest(meanA: meanA, meanB: meanB, varianceA: varA, varianceB: varB,
                          countA: a.count, countB: b.count, difference: meanA - meanB,
                          t: t.flatMap(finite), degreesOfFreedom: df.flatMap(finite),
                          p: p.flatMap(finite), alternative: alternative)
    }

    /// The mean of `values` with its two-sided Student-t confidence interval
    /// `x̄ ± t_{(1+c)/2, n−1} · s/√n` (sample standard deviation s, divisor n − 1; quantile by
    /// `gsl_cdf_tdist_Pinv`). Nil for fewer than two values or a non-finite value.
    public static func meanInterval(_ values: [Double], confidence: Double = 0.95)
        -> (mean: Double, lower: Double, upper: Double)? {
        _ = GSLErrorHandling.installed
        guard values.count >= 2, values.allSatisfy(\.isFinite), confidence > 0, confidence < 1 else { return nil }
        let n = values.count
        let mean = gsl_stats_mean(values, 1, n)
        let sd = gsl_stats_sd_m(values, 1, n, mean)
        let half = gsl_cdf_tdist_Pinv((1 + confidence) / 2, Double(n - 1)) * sd / Double(n).squareRoot()
        return (mean, mean - half, mean + half)
    }

    // MARK: Agreement

    /// Raw agreement and Cohen's κ (Cohen 1960) of a square confusion table
    /// `confusion[a][b]` (how often the first rater said a and the second b):
    /// `p_o = Σ nₐₐ / n`, `p_e = Σ (nₐ·/n)(n·ₐ/n)`, `κ = (p_o − p_e) / (1 − p_e)`;
    /// κ is nil when `p_e = 1` (both raters constant on the same category).
    public static func cohensKappa(_ confusion: [[Double]]) -> (agreement: Double?, expected: Double?, kappa: Double?) {
        let k = confusion.count
        var n = 0.0, diagonal = 0.0
        var rowSum = [Double](repeating: 0, count: k), columnSum = [Double](repeating: 0, count: k)
        for a in 0..<k {
            precondition(confusion[a].count == k, "confusion table must be square")
            for b in 0..<k {
                let v = confusion[a][b]
                n += v; rowSum[a] += v; columnSum[b] += v
                if a == b { diagonal += v }
            }
        }
        guard n > 0 else { return (nil, nil, nil) }
        let po = diagonal / n
        var pe = 0.0
        for a in 0..<k { pe += (rowSum[a] / n) * (columnSum[a] / n) }
        let kappa: Double? = pe < 1 ? finite((po - pe) / (1 - pe)) : nil
        return (po, pe, kappa)
    }

    // MARK: Intervals

    /// The percentile bootstrap interval (Efron & Tibshirani 1993, §13.3) of `replicates`
    /// at `confidence`: the (1 − confidence)/2 and (1 + confidence)/2 quantiles of the
    /// finite replicates, by GSL's `gsl_stats_quantile_from_sorted_data` (linear
    /// interpolation between order statistics, NumPy's default "linear" method) after
    /// `gsl_sort`. Nil without finite replicates.
    public static func percentileInterval(_ replicates: [Double], confidence: Double) -> (lower: Double, upper: Double)? {
        var values = replicates.filter { $0.isFinite }
        guard !values.isEmpty else { return nil }
        let n = values.count
        values.withUnsafeMutableBufferPointer { gsl_sort($0.baseAddress, 1, n) }
        let alpha = (1 - confidence) / 2
        let lower = gsl_stats_quantile_from_sorted_data(values, 1, n, alpha)
        let upper = gsl_stats_quantile_from_sorted_data(values, 1, n, 1 - alpha)
        return (lower, upper)
    }
}

/// The alternative hypothesis of a one- or two-sided test.
public enum Alternative: String, Codable, Sendable, Equatable {
    /// The means differ.
    case twoSided = "two-sided"
    /// The first mean is smaller.
    case less
    /// The first mean is larger.
    case greater
}
