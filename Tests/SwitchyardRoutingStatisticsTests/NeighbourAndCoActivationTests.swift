import XCTest
@testable import SwitchyardRoutingStatistics
import SwitchyardTraces

/// Neighbouring-token agreement and expert co-activation (routers-next B2 and B6): values
/// recomputed by hand here, and the within-image permutation test calibrated under its null.
final class NeighbourAndCoActivationTests: XCTestCase {
    /// Images of a class token and a side × side patch grid; `expert(image, patch)` is each
    /// token's only expert (the class token's is `classExpert`).
    func gridTrace(images: Int, side: Int, experts: Int, classExpert: Int32 = 0,
                   expert: (Int, Int) -> Int32) -> RoutingTrace {
        let t = side * side + 1, n = images * t
        var chosen: [Int32] = [], positions: [Int32] = []
        for i in 0..<images {
            for p in 0..<t {
                positions.append(Int32(p))
                chosen.append(p == 0 ? classExpert : expert(i, p - 1))
            }
        }
        let layer = LayerRouting(layer: 3, offsets: (0...n).map(Int32.init), experts: chosen,
                                 weights: [Float](repeating: 1, count: n))
        return RoutingTrace(expertCount: experts, tokenCount: n, labels: [Int32](repeating: 0, count: n),
                            positions: positions, classCount: 1, layers: [layer])
    }

    func testAgreementCountsGridNeighboursAgainstItsBaselines() throws {
        // 3 × 3 grid, row r on expert r: the 6 horizontal pairs agree, the 6 vertical ones do not.
        let trace = gridTrace(images: 4, side: 3, experts: 3) { _, p in Int32(p / 3) }
        var options = AnalysisOptions()
        options.permutations = 199
        let a = try XCTUnwrap(analyze(trace: trace, options: options).neighbourAgreement?.first)
        XCTAssertEqual(a.layer, 3)
        XCTAssertEqual(a.neighbours, "patch grid 3×3")
        XCTAssertEqual(a.pairs, 4 * 12)
        XCTAssertEqual(a.agreement!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(a.chance!, 1.0 / 3, accuracy: 1e-12, "three experts, three patches each")
        // Shuffling 9 patches with 3 per expert: a pair agrees with probability 2/8.
        XCTAssertEqual(a.permutationMean!, 0.25, accuracy: 0.02)
        XCTAssertEqual(a.permutationP!, 1.0 / 200, accuracy: 1e-12, "no shuffle reaches 0.5")
        XCTAssertEqual(a.permutations, 199)
        // Images without a square grid: consecutive patches (class token left out).
        let pairs = NeighbourPairs(positions: [0, 1, 2, 0, 1, 2], unitStarts: [0, 3, 6])
        XCTAssertEqual(pairs.description, "consecutive patches")
        XCTAssertEqual(pairs.first, [1, 4])
        XCTAssertEqual(pairs.second, [2, 5])
    }

    func testThePermutationTestIsCalibratedUnderItsNull() throws {
        // Experts drawn independently per patch with image-specific skews: no spatial dependence,
        // but images differ (the null keeps each image's composition).
        var pValues: [Double] = []
        for seed in 0..<200 {
            var random = SimulationStream(seed: seed, stream: 1)
            func next() -> Double { random.next() }
            let skews = (0..<6).map { _ in next() }
            let trace = gridTrace(images: 6, side: 4, experts: 4) { i, _ in
                let u = next()
                return u < skews[i] ? 0 : Int32(1 + Int(next() * 3) % 3)
            }
            var options = AnalysisOptions()
            options.permutations = 99
            options.bootstrapResamples = 0
            options.seed = UInt64(seed)
            pValues.append(try XCTUnwrap(analyze(trace: trace, options: options).neighbourAgreement?.first?.permutationP))
        }
        let rejections = Double(pValues.filter { $0 <= 0.05 }.count) / Double(pValues.count)
        XCTAssertLessThanOrEqual(rejections, 0.09, "size at most about 5 % under the null (200 traces)")
        XCTAssertGreaterThanOrEqual(rejections, 0.01)
        XCTAssertEqual(pValues.reduce(0, +) / Double(pValues.count), 0.5, accuracy: 0.06, "p roughly uniform")
    }

    /// Beyond the work budget the test runs on a random subset of whole images: the subset is
    /// reported with its own agreement, a strong effect is still found, and under the null the
    /// subset test keeps its size (exact conditional on the subset; 200 null traces).
    func testASubsetOfImagesKeepsTheTestExactBeyondTheBudget() throws {
        let rows = gridTrace(images: 40, side: 3, experts: 3) { _, p in Int32(p / 3) }
        let shape = try checkTrace(rows, source: nil)
        let top1 = try reduceLayer(rows.layers[0], of: rows, shape: shape, source: nil).top1
        let starts = (0...40).map { Int32($0 * 10) }
        let pairs = NeighbourPairs(positions: rows.positions, unitStarts: starts)
        let full = neighbourAgreement(layer: 3, top1: top1, pairs: pairs, experts: 3, permutations: 99, seed: 1)
        XCTAssertNil(full.permutationUnits)
        XCTAssertEqual(full.units, 40)
        // 21 pair-or-token entries per image, 99 permutations: a budget of 99 × 21 × 5 keeps 5 images.
        let subset = neighbourAgreement(layer: 3, top1: top1, pairs: pairs, experts: 3, permutations: 99, seed: 1,
                                        budget: 99 * 21 * 5)
        XCTAssertEqual(subset.permutationUnits, 5)
        XCTAssertEqual(subset.agreement, full.agreement, "the estimate is the whole trace's")
        XCTAssertEqual(try XCTUnwrap(subset.permutationAgreement), 0.5, accuracy: 1e-12, "every image agrees on half its pairs")
        XCTAssertEqual(try XCTUnwrap(subset.permutationP), 0.01, accuracy: 1e-12)

        var pValues: [Double] = []
        for seed in 0..<200 {
            var random = SimulationStream(seed: seed, stream: 7)
            func next() -> Double { random.next() }
            let skews = (0..<30).map { _ in next() }
            let trace = gridTrace(images: 30, side: 4, experts: 4) { i, _ in
                next() < skews[i] ? 0 : Int32(1 + Int(next() * 3) % 3)
            }
            let traceShape = try checkTrace(trace, source: nil)
            let traceTop1 = try reduceLayer(trace.layers[0], of: trace, shape: traceShape, source: nil).top1
            let tracePairs = NeighbourPairs(positions: trace.positions, unitStarts: (0...30).map { Int32($0 * 17) })
            let a = neighbourAgreement(layer: 0, top1: traceTop1, pairs: tracePairs, experts: 4, permutations: 99,
                                       seed: UInt64(seed), budget: 99 * 40 * 8)
            XCTAssertEqual(a.permutationUnits, 8)
            pValues.append(try XCTUnwrap(a.permutationP))
        }
        let rejections = Double(pValues.filter { $0 <= 0.05 }.count) / Double(pValues.count)
        XCTAssertLessThanOrEqual(rejections, 0.09, "size at most about 5 % under the null (200 traces)")
        XCTAssertGreaterThanOrEqual(rejections, 0.01)
        XCTAssertEqual(pValues.reduce(0, +) / Double(pValues.count), 0.5, accuracy: 0.06, "p roughly uniform")
    }

    func testCoActivationCountsEveryPairAgainstTheRandomBaseline() throws {
        // 10 × {0, 1}, 10 × {0, 2}, 10 × {0}: E = 3.
        var offsets: [Int32] = [0], experts: [Int32] = []
        for set in Array(repeating: [Int32(0), 1], count: 10) + Array(repeating: [0, 2], count: 10) + Array(repeating: [0], count: 10) {
            experts += set
            offsets.append(Int32(experts.count))
        }
        let layer = LayerRouting(layer: 0, offsets: offsets, experts: experts, weights: experts.map { _ in 0.5 })
        let c = try XCTUnwrap(coActivation(layer, experts: 3))
        XCTAssertEqual(c.tokens, 20)
        // Expert 0: 30 tokens, 10 with 1 and 10 with 2; its tokens' mean k is 50/30.
        XCTAssertEqual(c.coactivation[0][1], 10.0 / 30, accuracy: 1e-12)
        XCTAssertEqual(c.ratio[0][1], (10.0 / 30) / ((50.0 / 30 - 1) / 2), accuracy: 1e-12)
        XCTAssertEqual(c.coactivation[1][0], 1, accuracy: 1e-12)
        XCTAssertEqual(c.ratio[1][0], 2, accuracy: 1e-12, "k = 2 of E = 3: the random baseline is 1/2")
        XCTAssertEqual(c.coactivation[1][2], 0)
        XCTAssertEqual(c.maxRatio!, 2, accuracy: 1e-12)
        XCTAssertEqual(c.minRatio!, 0, accuracy: 1e-12)
        XCTAssertEqual(c.minPair, [1, 2])
        // Top-1 only: nothing to report.
        XCTAssertNil(coActivation(LayerRouting(layer: 0, offsets: [0, 1, 2], experts: [0, 1], weights: [1, 1]), experts: 3))
    }
}
