import XCTest
@testable import SwitchyardRoutingStatistics

/// The permutation tests under nulls the old block permutation failed: skewed (Zipf) labels with
/// neighbouring tokens routed alike, and the layer-to-layer null.
final class PermutationCalibrationTests: XCTestCase {
    func testBlocksPlanPermutesLabelsExactlyUnderAZipfNull() throws {
        // 2,000 tokens, Zipf(1.2) labels over 200 classes independent of routing, each token copying
        // its predecessor's routing with probability 0.5; limits small enough to force blocks.
        let scenario = CoverageScenario(name: "test", experts: 4, layers: 1, classes: 200, zipf: 1.2, tokens: 2_000,
                                        copyNeighbour: 0.5, loadSkew: 0.3, affinity: 0, bootstrap: false)
        let population = CoveragePopulation(scenario, seed: 3)
        var limits = ResamplingLimits()
        limits.maxRows = 256
        var p: [Double] = []
        for r in 0..<40 {
            let a = try analyze(trace: population.trace(seed: UInt64(r)),
                                options: AnalysisOptions(bootstrapResamples: 0, permutations: 99, seed: UInt64(r)),
                                allowGrouping: false, limits: limits)
            XCTAssertEqual(a.resampling.method, "blocks")
            p.append(try XCTUnwrap(a.layers[0].affinity.mutualInformationPermutationP))
        }
        // Under the null p is uniform on {1/100, …, 1}: mean ≈ 0.5. The block moves gave p ≈ 1.
        let mean = p.reduce(0, +) / Double(p.count)
        XCTAssertTrue((0.3...0.7).contains(mean), "mean p \(mean): \(p)")
        XCTAssertGreaterThan(CoverageHarness.kolmogorovSmirnovUniformP(p), 0.05, "\(p)")
    }

    func testBlocksOfImagesPermuteWholeImagesExactly() throws {
        // Images of 16 tokens routed alike, forced into blocks: the test permutes one row per
        // image (fewer entries than tokens), and stays calibrated under the null.
        let scenario = CoverageScenario(name: "test", experts: 4, layers: 1, tokens: 3_200, tokensPerImage: 16,
                                        copyNeighbour: 0.6, loadSkew: 0.3, affinity: 0, bootstrap: false)
        let population = CoveragePopulation(scenario, seed: 4)
        var limits = ResamplingLimits()
        limits.maxRows = 64
        var p: [Double] = []
        for r in 0..<40 {
            let a = try analyze(trace: population.trace(seed: UInt64(r)),
                                options: AnalysisOptions(bootstrapResamples: 0, permutations: 99, seed: UInt64(r)),
                                allowGrouping: false, limits: limits)
            XCTAssertEqual(a.resampling.method, "blocks")
            XCTAssertEqual(a.resampling.unit, "images")
            p.append(try XCTUnwrap(a.layers[0].affinity.mutualInformationPermutationP))
        }
        let mean = p.reduce(0, +) / Double(p.count)
        XCTAssertTrue((0.3...0.7).contains(mean), "mean p \(mean): \(p)")
        XCTAssertGreaterThan(CoverageHarness.kolmogorovSmirnovUniformP(p), 0.05, "\(p)")
    }

    func testLayerTransitionPermutationNull() throws {
        // Layer 1 repeats layer 0: dependence, p = 1/(B + 1). Independent layers: p is not small.
        let assignment = (0..<400).map { ($0 * 7 + $0 / 3) % 5 }
        let same = try analyze(trace: top1Trace(experts: 5, assignment: assignment, layerCount: 2),
                               options: AnalysisOptions(bootstrapResamples: 0, permutations: 99))
        XCTAssertEqual(try XCTUnwrap(same.layerTransitions.first?.mutualInformationPermutationP), 0.01, accuracy: 1e-12)
        XCTAssertEqual(same.layerTransitions.first?.permutations, 99)
        let scenario = CoverageScenario(name: "test", experts: 6, tokens: 3_000, loadSkew: 0.3, affinity: 0)
        let independent = try analyze(trace: CoveragePopulation(scenario, seed: 5).trace(seed: 1),
                                      options: AnalysisOptions(bootstrapResamples: 0, permutations: 99))
        let t = try XCTUnwrap(independent.layerTransitions.first)
        XCTAssertGreaterThan(try XCTUnwrap(t.mutualInformationPermutationP), 0.05)
        XCTAssertLessThan(try XCTUnwrap(t.mutualInformationCorrectedBits), try XCTUnwrap(t.mutualInformationBits))
    }

    /// Beyond its budget the layer-to-layer test runs on a random subset of units, exact
    /// conditional on it: dependence is still found, and under independence its p-values stay
    /// roughly uniform (100 traces).
    func testLayerTransitionSubsetBeyondTheBudget() throws {
        let assignment: [Int32] = (0..<400).map { (i: Int) -> Int32 in Int32((i * 7 + i / 3) % 5) }
        let starts: [Int32] = (0...400).map { Int32($0) }
        let mi = { (a: [Int32], b: [Int32]) -> Double? in
            let (table, used, _) = top1Table(a, b, experts: 5)
            return Statistics.contingency(flat: table, rows: used.count, columns: used.count).mutualInformationBits
        }
        let same = transitionPermutationP(assignment, assignment, experts: 5, unitStarts: starts,
                                          observed: mi(assignment, assignment), permutations: 99, seed: 3, budget: 99 * 100)
        XCTAssertEqual(same.units, 100)
        XCTAssertEqual(try XCTUnwrap(same.p), 0.01, accuracy: 1e-12)
        var pValues: [Double] = []
        var state: UInt64 = 11
        func next() -> Int32 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32((state >> 33) % 5)
        }
        for seed in 0..<100 {
            let a: [Int32] = (0..<400).map { _ in next() }
            let b: [Int32] = (0..<400).map { _ in next() }
            let test = transitionPermutationP(a, b, experts: 5, unitStarts: starts, observed: mi(a, b),
                                              permutations: 49, seed: UInt64(seed), budget: 49 * 120)
            XCTAssertEqual(test.units, 120)
            pValues.append(try XCTUnwrap(test.p))
        }
        let rejections = Double(pValues.filter { $0 <= 0.05 }.count) / Double(pValues.count)
        XCTAssertLessThanOrEqual(rejections, 0.12)
        XCTAssertEqual(pValues.reduce(0, +) / Double(pValues.count), 0.5, accuracy: 0.08, "p roughly uniform")
    }
}
