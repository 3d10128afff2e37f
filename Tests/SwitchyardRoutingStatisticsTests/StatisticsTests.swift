import CGSL
import XCTest
@testable import SwitchyardRoutingStatistics

/// Known answers for the building blocks. Expected values are hand-computed (shown) or
/// computed with SciPy 1.17.1 / NumPy 2.4.6 (the call is given next to each number).
final class StatisticsTests: XCTestCase {
    func testGiniKnownAnswersAndPairwiseDefinition() throws {
        // [1, 2, 3, 4]: Σ(2i − n − 1)x = −3·1 − 1·2 + 1·3 + 3·4 = 10; 10 / (4 · 10) = 0.25.
        XCTAssertEqual(try XCTUnwrap(Statistics.gini([4, 1, 3, 2])), 0.25, accuracy: 1e-15)
        // Everything on one of 4: (n − 1)/n.
        XCTAssertEqual(try XCTUnwrap(Statistics.gini([0, 0, 10, 0])), 0.75, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(Statistics.gini([5, 5, 5])), 0, accuracy: 1e-15)
        XCTAssertNil(Statistics.gini([0, 0]))
        XCTAssertNil(Statistics.gini([]))
        // Cross-check: sorted formula vs the pairwise definition Σ|xi − xj| / (2 n² mean),
        // and the histogram form used for compute per token.
        let values: [Double] = [3, 0, 7, 7, 1, 2, 9, 0, 4]
        var pairwise = 0.0
        for a in values { for b in values { pairwise += abs(a - b) } }
        let n = Double(values.count), mean = values.reduce(0, +) / n
        let expected = pairwise / (2 * n * n * mean)
        XCTAssertEqual(try XCTUnwrap(Statistics.gini(values)), expected, accuracy: 1e-14)
        let levels = (0...9).map(Double.init)
        let counts = levels.map { v in Double(values.filter { $0 == v }.count) }
        XCTAssertEqual(try XCTUnwrap(Statistics.giniOfHistogram(values: levels, counts: counts)), expected, accuracy: 1e-14)
    }

    func testEntropy() throws {
        // p = (1/4, 1/4, 1/2): H = 2·(1/4)·2 + (1/2)·1 = 1.5 bits.
        XCTAssertEqual(try XCTUnwrap(Statistics.entropy([1, 1, 2], bits: true)), 1.5, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(Statistics.entropy([3, 3, 3])), log(3), accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(Statistics.entropy([0, 5, 0])), 0, accuracy: 0)
        XCTAssertNil(Statistics.entropy([0, 0]))
    }

    func testChiSquareGoodnessOfFitMatchesSciPy() throws {
        // scipy.stats.chisquare([10, 20, 30, 40]) → statistic 20.0, pvalue 0.00016974243555282632
        let test = Statistics.chiSquareGoodnessOfFit(observed: [10, 20, 30, 40], expected: [25, 25, 25, 25])
        XCTAssertEqual(try XCTUnwrap(test.statistic), 20, accuracy: 1e-12)
        XCTAssertEqual(test.degreesOfFreedom, 3)
        XCTAssertEqual(try XCTUnwrap(test.p), 0.00016974243555282632, accuracy: 1e-15)
        // Perfectly uniform: χ² = 0, p = 1.
        let uniform = Statistics.chiSquareGoodnessOfFit(observed: [7, 7, 7], expected: [7, 7, 7])
        XCTAssertEqual(try XCTUnwrap(uniform.p), 1, accuracy: 1e-15)
    }

    func testContingencyMatchesSciPyAndDropsEmptyRowsAndColumns() throws {
        // Last column is empty and is left out: SciPy on the 3 × 3 part,
        // scipy.stats.chi2_contingency(t, correction=False) → 19.362244897959187,
        //   p 0.0006670506867873932, dof 4
        // scipy.stats.contingency.association(t, method="cramer", correction=False) → 0.29666513796135985
        // MI (numpy, Σ p log2(p / (pr pc))) → 0.13128998819638416 bits; H(rows) 1.3946169838545441,
        //   H(cols) 1.5820239409642765, NMI = 2I / (Hr + Hc) = 0.0882135208863833
        let table: [[Double]] = [[10, 20, 30, 0], [20, 10, 5, 0], [5, 5, 5, 0], [0, 0, 0, 0]]
        let s = Statistics.contingency(table)
        XCTAssertEqual(s.rows, 3)
        XCTAssertEqual(s.columns, 3)
        XCTAssertEqual(s.chi2DF, 4)
        XCTAssertEqual(try XCTUnwrap(s.chi2), 19.362244897959187, accuracy: 1e-11)
        XCTAssertEqual(try XCTUnwrap(s.chi2P), 0.0006670506867873932, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(s.cramersV), 0.29666513796135985, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(s.mutualInformationBits), 0.13128998819638416, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(s.rowEntropyBits), 1.3946169838545441, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(s.columnEntropyBits), 1.5820239409642765, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(s.normalizedMutualInformation), 0.0882135208863833, accuracy: 1e-13)
    }

    func testMutualInformationEqualsEntropyIdentity() throws {
        // I(X;Y) = H(X) + H(Y) − H(X,Y), computed independently from the three entropies.
        let table: [[Double]] = [[12, 0, 3, 5], [1, 9, 9, 0], [4, 4, 4, 30]]
        let s = Statistics.contingency(table)
        let hx = try XCTUnwrap(Statistics.entropy(table.map { $0.reduce(0, +) }, bits: true))
        let hy = try XCTUnwrap(Statistics.entropy((0..<4).map { c in table.reduce(0) { $0 + $1[c] } }, bits: true))
        let hxy = try XCTUnwrap(Statistics.entropy(table.flatMap { $0 }, bits: true))
        XCTAssertEqual(try XCTUnwrap(s.mutualInformationBits), hx + hy - hxy, accuracy: 1e-13)
        // G = 2 n I (nats) is asymptotically χ²; for this table both tests reject strongly.
        XCTAssertLessThan(try XCTUnwrap(s.chi2P), 1e-10)
    }

    func testIndependentTableHasZeroAssociation() throws {
        // Outer product of margins (1, 2, 3) × (2, 1, 1): exact independence.
        let rows: [Double] = [1, 2, 3], columns: [Double] = [2, 1, 1]
        let table = rows.map { r in columns.map { r * $0 * 10 } }
        let s = Statistics.contingency(table)
        XCTAssertEqual(try XCTUnwrap(s.mutualInformationBits), 0, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(s.chi2), 0, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.chi2P), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.cramersV), 0, accuracy: 1e-7)
        // Perfect association on a diagonal: V = 1, NMI = 1.
        let diagonal: [[Double]] = [[5, 0, 0], [0, 7, 0], [0, 0, 9]]
        let d = Statistics.contingency(diagonal)
        XCTAssertEqual(try XCTUnwrap(d.cramersV), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(d.normalizedMutualInformation), 1, accuracy: 1e-12)
        // One non-empty row: no test possible.
        let single = Statistics.contingency([[3, 4], [0, 0]])
        XCTAssertEqual(single.chi2DF, 0)
        XCTAssertNil(single.chi2P)
        XCTAssertNil(single.cramersV)
        XCTAssertEqual(try XCTUnwrap(single.mutualInformationBits), 0, accuracy: 0)
    }

    func testKruskalWallisMatchesSciPyWithTies() throws {
        // scipy.stats.kruskal([1,2,2,3], [2,3,3,4,5], [1,1,2]) → 6.282587064676624, p 0.04322684639852824
        let test = Statistics.kruskalWallis([[1, 2, 2, 3], [2, 3, 3, 4, 5], [1, 1, 2]])
        XCTAssertEqual(try XCTUnwrap(test.h), 6.282587064676624, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(test.p), 0.04322684639852824, accuracy: 1e-14)
        XCTAssertEqual(test.degreesOfFreedom, 2)
        // Cross-check: the count-table form used on routing traces gives the same H.
        // Levels 1…5 (rows) by group (columns).
        let levels: [[Double]] = [[1, 0, 2], [2, 1, 1], [1, 2, 0], [0, 1, 0], [0, 1, 0]]
        let fromCounts = Statistics.kruskalWallis(levelCounts: levels, groupCount: 3)
        XCTAssertEqual(try XCTUnwrap(fromCounts.h), try XCTUnwrap(test.h), accuracy: 1e-12)
        // All values tied: undefined.
        XCTAssertNil(Statistics.kruskalWallis([[1, 1], [1, 1, 1]]).h)
        XCTAssertNil(Statistics.kruskalWallis([[1, 2, 3]]).p)
    }

    func testWelchMatchesSciPy() throws {
        let a = [0.12, 0.15, 0.11, 0.19, 0.14], b = [0.21, 0.18, 0.25, 0.22, 0.30, 0.27]
        // scipy.stats.ttest_ind(a, b, equal_var=False, alternative=…):
        //   statistic -4.26524710012123, df 8.852526361503513,
        //   p two-sided 0.002175312384586151, less 0.0010876561922930756, greater 0.9989123438077069
        let two = try Statistics.welchTTest(a, b)
        XCTAssertEqual(try XCTUnwrap(two.t), -4.26524710012123, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(two.degreesOfFreedom), 8.852526361503513, accuracy: 1e-10)
        XCTAssertEqual(try XCTUnwrap(two.p), 0.002175312384586151, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(try Statistics.welchTTest(a, b, alternative: .less).p),
                       0.0010876561922930756, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(try Statistics.welchTTest(a, b, alternative: .greater).p),
                       0.9989123438077069, accuracy: 1e-13)
        XCTAssertThrowsError(try Statistics.welchTTest([1], [1, 2]))
        XCTAssertThrowsError(try Statistics.welchTTest([1, .nan], [1, 2]))
        XCTAssertNil(try Statistics.welchTTest([1, 1], [2, 2]).t)
    }

    func testCohensKappaByHand() throws {
        // p_o = 35/50 = 0.7; margins rows (25, 25), columns (30, 20);
        // p_e = 0.5·0.6 + 0.5·0.4 = 0.5; κ = (0.7 − 0.5)/(1 − 0.5) = 0.4.
        let k = Statistics.cohensKappa([[20, 5], [10, 15]])
        XCTAssertEqual(try XCTUnwrap(k.agreement), 0.7, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(k.expected), 0.5, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(k.kappa), 0.4, accuracy: 1e-15)
        XCTAssertNil(Statistics.cohensKappa([[4, 0], [0, 0]]).kappa)
    }

    func testPercentileIntervalMatchesNumPy() throws {
        // numpy.percentile(x, [2.5, 97.5]) (linear) → 1.0, 8.25
        let x: [Double] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, .nan]
        let interval = try XCTUnwrap(Statistics.percentileInterval(x, confidence: 0.95))
        XCTAssertEqual(interval.lower, 1.0, accuracy: 1e-12)
        XCTAssertEqual(interval.upper, 8.25, accuracy: 1e-12)
        XCTAssertNil(Statistics.percentileInterval([.nan], confidence: 0.9))
    }

    func testHypergeometricSamplerMatchesDistribution() throws {
        // Both branches (GSL's sequential sampler for small samples, HRUA otherwise)
        // against the exact pmf from gsl_ran_hypergeometric_pdf: χ² over the bins with
        // expected count ≥ 5. Fixed seed, so the check is deterministic.
        for (good, bad, sample) in [(300, 700, 200), (40, 25, 30), (5, 2000, 8), (1500, 1500, 2990)] {
            let rng = GSLRandom(seed: 11, stream: UInt64(good))
            let draws = 20_000
            var histogram = [Double](repeating: 0, count: min(good, sample) + 1)
            var sum = 0.0
            for _ in 0..<draws {
                let k = rng.hypergeometric(good: good, bad: bad, sample: sample)
                XCTAssert(k >= max(0, sample - bad) && k <= min(good, sample))
                histogram[k] += 1
                sum += Double(k)
            }
            let mean = Double(sample) * Double(good) / Double(good + bad)
            XCTAssertEqual(sum / Double(draws), mean, accuracy: 0.05 * max(1, mean))
            var observed: [Double] = [], expected: [Double] = []
            var restObserved = 0.0, restExpected = 0.0
            for k in histogram.indices {
                let e = Double(draws) * gsl_ran_hypergeometric_pdf(UInt32(k), UInt32(good), UInt32(bad), UInt32(sample))
                if e >= 5 { observed.append(histogram[k]); expected.append(e) } else {
                    restObserved += histogram[k]; restExpected += e
                }
            }
            observed.append(restObserved); expected.append(restExpected)
            let test = Statistics.chiSquareGoodnessOfFit(observed: observed, expected: expected)
            XCTAssertGreaterThan(try XCTUnwrap(test.p), 1e-4, "good \(good) bad \(bad) sample \(sample)")
        }
    }

    func testNullableEncodesUndefinedAsNull() throws {
        struct Probe: Codable, Equatable {
            @Nullable var a: Double?
            @Nullable var b: Double?
            @Nullable var c: Double?
        }
        let probe = Probe(a: .nan, b: .infinity, c: 2.5)
        XCTAssertNil(probe.a)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(probe), as: UTF8.self)
        XCTAssertEqual(json, #"{"a":null,"b":null,"c":2.5}"#)
        XCTAssertEqual(try JSONDecoder().decode(Probe.self, from: Data(json.utf8)), probe)
    }
}
