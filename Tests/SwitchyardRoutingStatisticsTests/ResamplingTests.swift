import Foundation
import SwitchyardTraces
import XCTest
@testable import SwitchyardRoutingStatistics

final class ResamplingTests: XCTestCase {
    /// Top-1 routing of `n` independent tokens: class uniform over `classes`, expert drawn
    /// from `probabilities[class]` (one row per class).
    func iidTrace(n: Int, probabilities: [[Double]], seed: UInt64, layers: Int = 1) -> RoutingTrace {
        var rng = TestLCG(state: seed)
        let classes = probabilities.count
        var labels: [Int32] = [], routed = [[[Int]]](repeating: [], count: layers)
        for _ in 0..<n {
            let c = rng.next(below: classes)
            labels.append(Int32(c))
            for l in 0..<layers {
                let u = Double(rng.next(below: 1 << 30)) / Double(1 << 30)
                var acc = 0.0, e = probabilities[c].count - 1
                for (i, p) in probabilities[c].enumerated() {
                    acc += p
                    if u < acc { e = i; break }
                }
                routed[l].append([e])
            }
        }
        return trace(experts: probabilities[0].count, labels: classes > 1 ? labels : nil,
                     classCount: classes > 1 ? classes : 0, layers: routed)
    }

    func testBootstrapIsDeterministicForASeed() throws {
        let t = iidTrace(n: 600, probabilities: [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], seed: 1, layers: 2)
        let options = AnalysisOptions(bootstrapResamples: 50, permutations: 30, seed: 42)
        let a = try analyze(trace: t, options: options), b = try analyze(trace: t, options: options)
        XCTAssertEqual(a, b)
        var other = options
        other.seed = 43
        let c = try analyze(trace: t, options: other)
        XCTAssertNotEqual(a.layers[0].uncertainty?.cv, c.layers[0].uncertainty?.cv)
        // The point statistics do not depend on the seed.
        XCTAssertEqual(a.layers[0].load, c.layers[0].load)
        // Changing the number of permutations leaves the bootstrap alone (separate streams).
        var morePermutations = options
        morePermutations.permutations = 60
        XCTAssertEqual(try analyze(trace: t, options: morePermutations).layers[0].uncertainty, a.layers[0].uncertainty)
    }

    func testIntervalsContainTheEstimate() throws {
        let t = iidTrace(n: 2000, probabilities: [[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]], seed: 5)
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 200, permutations: 0))
        let u = try XCTUnwrap(a.layers[0].uncertainty)
        for interval in [u.cv, u.gini, u.maxVio, u.mutualInformationBits, u.cramersV] {
            let i = try XCTUnwrap(interval)
            let estimate = try XCTUnwrap(i.estimate)
            XCTAssertLessThanOrEqual(i.lower, estimate)
            XCTAssertGreaterThanOrEqual(i.upper, estimate)
            XCTAssertLessThan(i.lower, i.upper)
            XCTAssertEqual(i.resamples, 200)
        }
        // The intervals' estimates are the bias-corrected headline values; the plug-in rides along.
        XCTAssertEqual(try XCTUnwrap(u.cv?.estimate), try XCTUnwrap(a.layers[0].load.cvCorrected), accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(u.cv?.plugIn), try XCTUnwrap(a.layers[0].load.cv), accuracy: 1e-14)
        // MI's estimate is its bootstrap world's bias correction (AffinityWorld), shown as the
        // headline; Miller–Madow stays in the affinity statistics.
        XCTAssertEqual(try XCTUnwrap(u.mutualInformationBits?.estimate),
                       try XCTUnwrap(a.layers[0].headlineMutualInformationBits), accuracy: 0)
        XCTAssertEqual(u.mutualInformationBits?.method, "shrunk-world basic")
        XCTAssertEqual(u.gini?.method, "shrunk-world iterated bootstrap")
        XCTAssertNotNil(a.layers[0].affinity.mutualInformationCorrectedBits)
        XCTAssertEqual(try XCTUnwrap(u.mutualInformationBits?.plugIn),
                       try XCTUnwrap(a.layers[0].affinity.mutualInformationBits), accuracy: 1e-14)
        XCTAssertEqual(u.cv?.method, "basic")
        XCTAssertEqual(u.meanExpertsPerToken?.method, "percentile")
        // Top-1 routing without drops: experts per token is 1 in every resample.
        XCTAssertEqual(try XCTUnwrap(u.meanExpertsPerToken?.lower), 1, accuracy: 0)
        XCTAssertEqual(try XCTUnwrap(u.meanExpertsPerToken?.upper), 1, accuracy: 0)
    }

    func testGroupedPerUnitAndBlockBootstrapsAgreeOnIndependentTokens() throws {
        // With independent tokens the three forms estimate the same sampling distribution:
        // their standard errors of CV and MI must agree (each is estimated from 300
        // resamples, relative precision ≈ 1/√600 ≈ 4 %).
        let t = iidTrace(n: 3000, probabilities: [[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]],
                         seed: 9)
        let options = AnalysisOptions(bootstrapResamples: 300, permutations: 0, seed: 2)
        let grouped = try analyze(trace: t, options: options, allowGrouping: true)
        let perUnit = try analyze(trace: t, options: options, allowGrouping: false)
        let blocks = try analyze(trace: t, options: options, allowGrouping: false,
                                 limits: ResamplingLimits(maxRows: 300, maxGroupedCells: 0))
        XCTAssertEqual(grouped.resampling.method, "grouped")
        XCTAssertEqual(perUnit.resampling.method, "per_unit")
        XCTAssertEqual(blocks.resampling.method, "blocks")
        XCTAssertEqual(blocks.resampling.blockSize, 10)
        func se(_ a: TraceAnalysis, _ key: KeyPath<UncertaintyStatistics, BootstrapInterval?>) throws -> Double {
            try XCTUnwrap(a.layers[0].uncertainty?[keyPath: key]?.standardError)
        }
        for key in [\UncertaintyStatistics.cv, \UncertaintyStatistics.mutualInformationBits] {
            let reference = try se(grouped, key)
            XCTAssertEqual(try se(perUnit, key) / reference, 1, accuracy: 0.2)
            XCTAssertEqual(try se(blocks, key) / reference, 1, accuracy: 0.25)
        }
    }

    func testBootstrapCoverage() throws {
        // 120 data sets of 1000 top-1 tokens from p = (0.4, 0.3, 0.2, 0.1), true load CV
        // = sd(p)/mean(p) = √0.0125 / 0.25 = 0.447214; the 90 % percentile interval should
        // cover it in about 90 % of the data sets (binomial sd 2.7 %).
        let truth = (0.0125).squareRoot() / 0.25
        for (label, grouping, limits) in [("grouped", true, ResamplingLimits()),
                                          ("blocks", false, ResamplingLimits(maxRows: 100, maxGroupedCells: 0))] {
            var covered = 0
            let sets = 120
            for k in 0..<sets {
                let t = iidTrace(n: 1000, probabilities: [[0.4, 0.3, 0.2, 0.1]], seed: UInt64(1000 + k))
                let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 100, confidenceLevel: 0.9,
                                                                       permutations: 0, seed: UInt64(k)),
                                    allowGrouping: grouping, limits: limits)
                let i = try XCTUnwrap(a.layers[0].uncertainty?.cv)
                if i.lower <= truth && truth <= i.upper { covered += 1 }
            }
            let coverage = Double(covered) / Double(sets)
            XCTAssertGreaterThan(coverage, 0.8, label)
            XCTAssertLessThan(coverage, 0.98, label)
        }
    }

    func testPermutationNullMatchesChiSquareTheoryForBothForms() throws {
        // Under independence 2 N ln2 · I ≈ χ²((C − 1)(E − 1)), so E[I*] ≈ df / (2 N ln 2) bits.
        // Both permutation forms (multivariate hypergeometric on grouped cells; shuffling
        // unit labels) must reproduce it: N = 2000, C = 3, E = 4, df = 6 → 0.0021640 bits.
        let t = iidTrace(n: 2000, probabilities: [[0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.2, 0.2], [0.2, 0.2, 0.3, 0.3]],
                         seed: 21)
        let expected = 6 / (2 * 2000 * log(2.0))
        let shape = try checkTrace(t, source: nil)
        let reductions = try t.layers.map { try reduceLayer($0, of: t, shape: shape, source: nil) }
        let scopes = ScopeTables(reductions: reductions, expertCount: 4, classCount: 3)
        for grouping in [true, false] {
            let plan = try makeResamplingPlan(trace: t, reductions: reductions, shape: shape, unit: .tokens,
                                              source: nil, allowGrouping: grouping)
            XCTAssertEqual(plan.method, grouping ? "grouped" : "per_unit")
            let null = permutationDistribution(plan: plan, scopes: scopes, permutations: 400, seed: 3)
            let mean = null.replicates.map { $0[0] }.reduce(0, +) / 400
            XCTAssertEqual(mean / expected, 1, accuracy: 0.12, "grouping \(grouping)")
            XCTAssertEqual(null.observed[0], try XCTUnwrap(Statistics.contingency(
                (0..<3).map { c in (0..<4).map { reductions[0].classExpert[c * 4 + $0] } }
            ).mutualInformationBits), accuracy: 1e-14)
            // Permutations keep the class totals and the expert totals.
            XCTAssert(null.replicates.allSatisfy { $0[0] >= 0 })
        }
    }

    func testPermutationTestDetectsAffinityAndNotIndependence() throws {
        let dependent = iidTrace(n: 1200, probabilities: [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], seed: 4, layers: 2)
        let a = try analyze(trace: dependent, options: AnalysisOptions(bootstrapResamples: 0, permutations: 99))
        for scope in a.layers + [a.overall] {
            XCTAssertEqual(try XCTUnwrap(scope.affinity.mutualInformationPermutationP), 0.01, accuracy: 1e-12)
        }
        let independent = iidTrace(n: 1200, probabilities: [[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]], seed: 4)
        let b = try analyze(trace: independent, options: AnalysisOptions(bootstrapResamples: 0, permutations: 99))
        let p = try XCTUnwrap(b.layers[0].affinity.mutualInformationPermutationP)
        let chi2P = try XCTUnwrap(b.layers[0].affinity.chi2P)
        XCTAssertGreaterThan(p, 0.05)
        // The permutation and asymptotic χ² p-values agree roughly when N is large.
        XCTAssertEqual(p, chi2P, accuracy: 0.15)
    }

    func testImagesAreTheUnitWhenPositionsGroupTokens() throws {
        // 40 images of 5 tokens: labels per image, positions 0…4.
        var labels: [Int32] = [], positions: [Int32] = [], routed: [[Int]] = []
        var rng = TestLCG(state: 8)
        for image in 0..<40 {
            let c = Int32(image % 2)
            for p in 0..<5 {
                labels.append(c)
                positions.append(Int32(p))
                routed.append([rng.next(below: 3) == 0 ? Int(c) : rng.next(below: 3)])
            }
        }
        let t = trace(experts: 3, labels: labels, positions: positions, classCount: 2, layers: [routed])
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 30, permutations: 30))
        XCTAssertEqual(a.resampling.unit, "images")
        XCTAssertEqual(a.resampling.units, 40)
        XCTAssertEqual(a.resampling.method, "per_unit")
        let tokens = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 30, permutations: 30,
                                                                    resamplingUnit: .tokens))
        XCTAssertEqual(tokens.resampling.unit, "tokens")
        XCTAssertEqual(tokens.resampling.units, 200)
        XCTAssertEqual(tokens.layers[0].load, a.layers[0].load)
    }

    func testSyntheticTraceIsValidAndDeterministic() throws {
        let t = StatisticsBenchmark.syntheticTrace(records: 4000, layers: 2, experts: 4, topK: 2, classes: 3,
                                                   tokensPerImage: 10, capacityFactor: 1.0, probabilities: true, seed: 3)
        XCTAssertEqual(t, StatisticsBenchmark.syntheticTrace(records: 4000, layers: 2, experts: 4, topK: 2, classes: 3,
                                                             tokensPerImage: 10, capacityFactor: 1.0,
                                                             probabilities: true, seed: 3))
        XCTAssertEqual(t.tokenCount, 2000)
        XCTAssertLessThanOrEqual(t.assignmentCount, 2 * 2 * 2000)
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 10, permutations: 10))
        XCTAssertEqual(a.resampling.unit, "images")
        // Capacity 1.0 · 2000 · 2 / 4 = 1000 per expert: no expert goes over.
        for layer in a.layers {
            XCTAssertEqual(layer.load.capacity, 1000)
            XCTAssertLessThanOrEqual(try XCTUnwrap(layer.load.maxCapacityUtilization), 1)
            // The synthetic router prefers class-dependent experts.
            XCTAssertLessThan(try XCTUnwrap(layer.affinity.chi2P), 1e-6)
        }
        let result = try StatisticsBenchmark.run(trace: t, options: AnalysisOptions(bootstrapResamples: 5, permutations: 5),
                                                 repetitions: 1)
        XCTAssertEqual(result.records, 4000)
        XCTAssert(result.markdownTable.contains("| 4000 | 2 × 2000 | 4 |"), result.markdownTable)
    }
}

extension ResamplingTests {
    func testBlocksGrowUntilAReplicateFitsTheEntryBudget() throws {
        // 4000 tokens, E = 32, top-3: per-token rows would need 3 entries per token per
        // layer (24,000 over two layers); a budget of 2,000 entries forces blocks, which
        // then hold many experts each.
        var rng = TestLCG(state: 12)
        let layers = (0..<2).map { _ in (0..<4000).map { _ in [rng.next(below: 32), rng.next(below: 32), rng.next(below: 32)] } }
        let labels = (0..<4000).map { Int32($0 % 4) }
        let t = trace(experts: 32, labels: labels, classCount: 4, layers: layers)
        let shape = try checkTrace(t, source: nil)
        let reductions = try t.layers.map { try reduceLayer($0, of: t, shape: shape, source: nil) }
        let limits = ResamplingLimits(maxRows: 32_768, maxEntries: 2_000, maxGroupedCells: 0)
        let plan = try makeResamplingPlan(trace: t, reductions: reductions, shape: shape, unit: .tokens, source: nil,
                                          allowGrouping: false, limits: limits)
        XCTAssertEqual(plan.method, "blocks")
        XCTAssertLessThanOrEqual(plan.layers.reduce(0) { $0 + $1.pattern.count }, 2_000)
        XCTAssertGreaterThan(plan.rowCount, 20, "blocks no larger than needed")
        // Every token is still in exactly one row, with its class.
        XCTAssertEqual(plan.rowTokens.reduce(0, +), 4000)
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 20, permutations: 20),
                            allowGrouping: false, limits: limits)
        XCTAssertEqual(a.resampling.method, "blocks")
        XCTAssertEqual(a.resampling.blockSize, plan.blockSize)
        XCTAssertNotNil(a.overall.uncertainty?.cv)
    }
}
