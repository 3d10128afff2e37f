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
}
