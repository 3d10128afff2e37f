import XCTest
@testable import SwitchyardRoutingStatistics

/// The bias-corrected estimators pinned to values computed independently with SciPy 1.17.1 /
/// NumPy 2.4.6 from the formulas in their papers (the Python is quoted next to each number).
final class BiasCorrectionTests: XCTestCase {
    /// t = [[12, 5, 3, 0], [4, 10, 6, 1], [2, 3, 15, 2]] (n = 63, one empty cell).
    let table: [[Double]] = [[12, 5, 3, 0], [4, 10, 6, 1], [2, 3, 15, 2]]

    func testCramersVBergsmaMatchesFormulaOnSciPyChiSquare() throws {
        let s = Statistics.contingency(table)
        // chi2, *_ = scipy.stats.chi2_contingency(t, correction=False) → 25.322537878787873;
        // scipy.stats.contingency.association(t, "cramer", correction=False) → 0.4482995905056381.
        XCTAssertEqual(try XCTUnwrap(s.chi2), 25.322537878787873, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.cramersV), 0.4482995905056381, accuracy: 1e-12)
        // Bergsma (2013), J. Korean Stat. Soc. 42, 323–328, eq. for Ṽ:
        // phi2 = max(0, chi2/n − (r−1)(c−1)/(n−1)); rt = r − (r−1)²/(n−1); ct = c − (c−1)²/(n−1);
        // sqrt(phi2 / min(rt−1, ct−1)) → 0.3970788422246144.
        XCTAssertEqual(try XCTUnwrap(s.cramersVCorrected), 0.3970788422246144, accuracy: 1e-12)
        XCTAssertLessThan(s.cramersVCorrected!, s.cramersV!)
        // Independence: φ² below its bias gives 0.
        XCTAssertEqual(try XCTUnwrap(Statistics.contingency([[10, 10], [10, 11]]).cramersVCorrected), 0)
    }

    func testMillerMadowMutualInformation() throws {
        let s = Statistics.contingency(table)
        // scipy.stats.entropy on the margins and joint (base 2): Hr + Hc − Hj → 0.29117467615435677;
        // Miller (1955): each entropy + (m − 1)/(2 n ln 2) bits, m its non-empty bins (3, 4, 11)
        // → 0.23392487294447717.
        XCTAssertEqual(try XCTUnwrap(s.mutualInformationBits), 0.29117467615435677, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.mutualInformationCorrectedBits), 0.23392487294447717, accuracy: 1e-12)
        // Without empty cells the correction is df / (2 n ln 2), the mean of the null.
        let full: [[Double]] = [[5, 7], [9, 3]]
        let f = Statistics.contingency(full)
        XCTAssertEqual(try XCTUnwrap(f.mutualInformationCorrectedBits),
                       max(0, f.mutualInformationBits! - 1 / (2 * 24 * M_LN2)), accuracy: 1e-15)
    }

    func testUnbiasedCVSquaredAndMillerMadowEntropy() throws {
        let counts: [Double] = [30, 20, 25, 45, 10, 2]
        // numpy: c.var() / c.mean()**2 → 0.39600550964187325 (plug-in, unchanged).
        XCTAssertEqual(LoadSummary(counts).cv * LoadSummary(counts).cv, 0.39600550964187325, accuracy: 1e-12)
        // E · Σ c(c − 1) / (A(A − 1)) − 1 → 0.36086051353226933.
        XCTAssertEqual(try XCTUnwrap(Statistics.unbiasedCVSquared(counts)), 0.36086051353226933, accuracy: 1e-12)
        // scipy.stats.entropy(c) → 1.5636017720305053; + (m − 1)/(2A) → 1.5825411659698994.
        XCTAssertEqual(try XCTUnwrap(Statistics.entropy(counts)), 1.5636017720305053, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(Statistics.millerMadowEntropy(counts)), 1.5825411659698994, accuracy: 1e-12)
        XCTAssertNil(Statistics.unbiasedCVSquared([1, 0]))
    }

    func testPairedTTestAndMinimumDetectableDifferenceMatchScipy() throws {
        // Three seeds' accuracies of two routers. References from scipy 1.17.1:
        // stats.ttest_rel(a, b) → t 2.177598558933893, p 0.16134078297758467; the Welch
        // df = (va/3 + vb/3)² / ((va/3)²/2 + (vb/3)²/2) = 3.124324324324324 and
        // (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) · √(va/3 + vb/3) = 0.009722670962235006.
        let a = [0.861, 0.859, 0.866], b = [0.855, 0.857, 0.853]
        let paired = try XCTUnwrap(Statistics.pairedTTest(zip(a, b).map { $0 - $1 }))
        XCTAssertEqual(paired.t!, 2.177598558933893, accuracy: 1e-12)
        XCTAssertEqual(paired.p!, 0.16134078297758467, accuracy: 1e-12)
        XCTAssertEqual(paired.degreesOfFreedom, 2)
        let w = try Statistics.welchTTest(a, b)
        XCTAssertEqual(w.degreesOfFreedom!, 3.124324324324324, accuracy: 1e-12)
        XCTAssertEqual(Statistics.minimumDetectableDifference(w, alpha: 0.05, power: 0.8)!, 0.009722670962235006, accuracy: 1e-12)
        XCTAssertNil(Statistics.pairedTTest([0.1]))
        XCTAssertNil(Statistics.pairedTTest([0.2, 0.2])!.p, "no spread, no test")
        XCTAssertNil(Statistics.minimumDetectableDifference(try Statistics.welchTTest([1, 1], [2, 2])))
    }

    func testHolmAndBenjaminiHochbergMatchStatsmodels() throws {
        // statsmodels 0.14: multipletests([0.01, 0.04, 0.03, 0.005, 0.2, 0.04], method="holm")[1]
        // → [0.05, 0.12, 0.12, 0.03, 0.2, 0.12]; method="fdr_bh" → [0.03, 0.048, 0.048, 0.03, 0.2, 0.048].
        let p: [Double?] = [0.01, 0.04, nil, 0.03, 0.005, 0.2, 0.04]
        let holm = Statistics.holm(p), bh = Statistics.benjaminiHochberg(p)
        let expectedHolm: [Double?] = [0.05, 0.12, nil, 0.12, 0.03, 0.2, 0.12]
        let expectedBH: [Double?] = [0.03, 0.048, nil, 0.048, 0.03, 0.2, 0.048]
        for i in p.indices {
            XCTAssertEqual(holm[i] == nil, expectedHolm[i] == nil)
            XCTAssertEqual(holm[i] ?? 0, expectedHolm[i] ?? 0, accuracy: 1e-12)
            XCTAssertEqual(bh[i] ?? 0, expectedBH[i] ?? 0, accuracy: 1e-12)
        }
    }

    func testWelchDifferenceIntervalAndHedgesG() throws {
        let a = [0.861, 0.872, 0.858, 0.866], b = [0.849, 0.851, 0.860]
        let w = try Statistics.welchTTest(a, b)
        // statsmodels 0.14: CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar="unequal")
        // → (−0.0011531705244952253, 0.022986503857828598).
        let ci = try XCTUnwrap(Statistics.welchDifferenceInterval(w))
        XCTAssertEqual(ci.lower, -0.0011531705244952253, accuracy: 1e-12)
        XCTAssertEqual(ci.upper, 0.022986503857828598, accuracy: 1e-12)
        // numpy, Hedges & Olkin (1985) eq. 5.10: d · (1 − 3/(4(na + nb) − 9)) with the pooled sd → 1.5261697527050455.
        XCTAssertEqual(try XCTUnwrap(Statistics.hedgesG(w)), 1.5261697527050455, accuracy: 1e-12)
    }

    func testHolmKeepsTheFamilyWiseErrorOfAnAllNullComparison() throws {
        // 5 groups × 3 seeds, 9 metrics, all from N(0, 1): every pair of groups and metric is one
        // Welch test, 90 per family, as in the comparison report's table. Over 1,000 families the
        // share with any Holm-adjusted p < 0.05 must stay ≤ 0.05 (+ Monte Carlo error); unadjusted,
        // about 90 % of families have a "finding" (measured: 900 of 1,000).
        let rng = GSLRandom(seed: 11, stream: 9)
        var anyHolm = 0, anyRaw = 0
        let families = 1_000
        for _ in 0..<families {
            let data = (0..<9).map { _ in (0..<5).map { _ in (0..<3).map { _ in rng.gaussian() } } }
            var p: [Double?] = []
            for metric in data {
                for i in 0..<5 { for j in (i + 1)..<5 { p.append(try Statistics.welchTTest(metric[i], metric[j]).p) } }
            }
            if Statistics.holm(p).contains(where: { ($0 ?? 1) < 0.05 }) { anyHolm += 1 }
            if p.contains(where: { ($0 ?? 1) < 0.05 }) { anyRaw += 1 }
        }
        XCTAssertLessThanOrEqual(Double(anyHolm) / Double(families), 0.05 + 0.014, "\(anyHolm) of \(families)")
        XCTAssertGreaterThan(Double(anyRaw) / Double(families), 0.8, "unadjusted: \(anyRaw) of \(families)")
    }

    func testUnbiasedCVSquaredIsUnbiasedByExactEnumeration() throws {
        // All multinomial outcomes of A = 6 assignments over p = (0.5, 0.3, 0.2): the mean of
        // the estimator equals E Σ p² − 1 = 3 · 0.38 − 1 = 0.14 exactly; the plug-in is above it.
        let p = [0.5, 0.3, 0.2], a = 6
        var meanUnbiased = 0.0, meanPlugIn = 0.0
        for x in 0...a {
            for y in 0...(a - x) {
                let z = a - x - y
                let logCoefficient: Double = lgamma(Double(a + 1)) - lgamma(Double(x + 1)) - lgamma(Double(y + 1))
                    - lgamma(Double(z + 1))
                let powers: Double = pow(p[0], Double(x)) * pow(p[1], Double(y)) * pow(p[2], Double(z))
                let prob = exp(logCoefficient) * powers
                let counts = [Double(x), Double(y), Double(z)]
                meanUnbiased += prob * Statistics.unbiasedCVSquared(counts)!
                meanPlugIn += prob * LoadSummary(counts).cv * LoadSummary(counts).cv
            }
        }
        XCTAssertEqual(meanUnbiased, 0.14, accuracy: 1e-12)
        XCTAssertGreaterThan(meanPlugIn, 0.2)
    }
}
