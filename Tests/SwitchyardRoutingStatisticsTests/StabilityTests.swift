import SwitchyardFileIO
import SwitchyardTraces
import XCTest
@testable import SwitchyardRoutingStatistics

final class StabilityTests: XCTestCase {
    func testAgreementAndKappaByHand() throws {
        // Layer 0: A = (0,0,0,0,0,1,1,1,1,1), B = (0,0,0,0,1,1,1,1,0,0) → confusion [[4,1],[2,3]]:
        //   p_o = 0.7, margins (5,5) and (6,4), p_e = 0.5·0.6 + 0.5·0.4 = 0.5, κ = 0.4;
        //   MI (numpy) = 0.12451124978365302 bits.
        // Layer 1: identical alternating assignments.
        let a0 = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], b0 = [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
        let alternating = (0..<10).map { $0 % 2 }
        let first = trace(experts: 2, layers: [a0.map { [$0] }, alternating.map { [$0] }])
        let second = trace(experts: 2, layers: [b0.map { [$0] }, alternating.map { [$0] }])
        let result = try compareAssignments(first, second)
        let l0 = result.layers[0]
        XCTAssertEqual(l0.confusion, [[4, 1], [2, 3]])
        XCTAssertEqual(l0.tokens, 10)
        XCTAssertEqual(try XCTUnwrap(l0.agreement), 0.7, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(l0.expectedAgreement), 0.5, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(l0.cohensKappa), 0.4, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(l0.mutualInformationBits), 0.12451124978365313, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(result.layers[1].cohensKappa), 1, accuracy: 1e-15)
        // All layers: p_o = 17/20; chance within layers, p_e = (10·0.5 + 10·0.5)/20 = 0.5,
        // κ = 0.35/0.5 = 0.7 (the pooled block-diagonal table alone would give p_e = 0.25, κ = 0.8);
        // MI = (0.1245… + 1)/2.
        XCTAssertEqual(result.overall.tokens, 20)
        XCTAssertEqual(try XCTUnwrap(result.overall.agreement), 0.85, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(result.overall.expectedAgreement), 0.5, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(result.overall.cohensKappa), 0.7, accuracy: 1e-14)
        XCTAssertEqual(try XCTUnwrap(result.overall.mutualInformationBits), (0.12451124978365313 + 1) / 2, accuracy: 1e-14)
        XCTAssertEqual(result.overall.confusion, [[4, 1, 0, 0], [2, 3, 0, 0], [0, 0, 5, 0], [0, 0, 0, 5]])
        XCTAssertNil(result.overall.layer)
    }

    func testChanceAgreementInEveryLayerIsKappaZeroOverall() throws {
        // In each of 4 layers, A = 0,1,0,1,… and B = 0,0,1,1,…: agreement 1/2 = chance, κ = 0.
        let a = (0..<8).map { $0 % 2 }, b = (0..<8).map { $0 / 2 % 2 }
        let first = trace(experts: 2, layers: Array(repeating: a.map { [$0] }, count: 4))
        let second = trace(experts: 2, layers: Array(repeating: b.map { [$0] }, count: 4))
        let result = try compareAssignments(first, second)
        for layer in result.layers { XCTAssertEqual(try XCTUnwrap(layer.cohensKappa), 0, accuracy: 1e-15) }
        XCTAssertEqual(try XCTUnwrap(result.overall.cohensKappa), 0, accuracy: 1e-15,
                       "chance agreement must not become agreement by pooling layers")
    }

    func testRenamedExpertsDisagreeButShareInformation() throws {
        let a = (0..<12).map { $0 % 3 }
        let first = trace(experts: 3, layers: [a.map { [$0] }])
        let second = trace(experts: 3, layers: [a.map { [($0 + 1) % 3] }])
        let r = try compareAssignments(first, second).layers[0]
        XCTAssertEqual(try XCTUnwrap(r.agreement), 0, accuracy: 0)
        // p_e = 3 · (1/3)² = 1/3, κ = (0 − 1/3)/(2/3) = −0.5.
        XCTAssertEqual(try XCTUnwrap(r.cohensKappa), -0.5, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(r.mutualInformationBits), log2(3), accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(r.normalizedMutualInformation), 1, accuracy: 1e-13)
    }

    func testTopOneUsesPreferredExpertThenLargestWeight() throws {
        // Token 0: dropped but preferred expert 2 recorded; token 1: experts (1, 0) with
        // weights 1 and 0.5 → top-1 is 1; token 2: no expert, no preference → left out.
        let routed = layer(0, [[], [1, 0], []], preferred: [2, -1, -1])
        let t = RoutingTrace(expertCount: 3, tokenCount: 3, layers: [routed])
        let r = try compareAssignments(t, t).layers[0]
        XCTAssertEqual(r.tokens, 2)
        XCTAssertEqual(r.confusion, [[0, 0, 0], [0, 1, 0], [0, 0, 1]])
    }

    func testMismatchedTracesAreRejected() {
        let a = trace(experts: 2, layers: [[[0], [1]]]), b = trace(experts: 2, layers: [[[0], [1], [1]]])
        XCTAssertThrowsError(try compareAssignments(a, b, firstSource: "a.trace", secondSource: "b.trace")) { error in
            XCTAssertEqual((error as? InputError)?.description,
                           "b.trace: header: token count is 3, but 2 in the first trace (a.trace)")
        }
    }

    func testCompareRunsAppliesWelchPerMetricAndScope() throws {
        // Three "seeds" of a balanced router against three of an imbalanced one.
        func run(_ skew: Int, _ seed: UInt64) throws -> TraceAnalysis {
            var rng = TestLCG(state: seed)
            let assignment = (0..<400).map { _ in rng.next(below: 4 + skew) % 4 }
            return try analyze(trace: top1Trace(experts: 4, assignment: assignment, layerCount: 2),
                               options: AnalysisOptions(bootstrapResamples: 0, permutations: 0))
        }
        let balanced = try (1...3).map { try run(0, $0) }, skewed = try (1...3).map { try run(3, $0 + 10) }
        let comparison = try compareRuns(balanced, skewed)
        XCTAssertEqual(comparison.metrics.count, 3 * 7)
        let cv = try XCTUnwrap(comparison.metrics.first { $0.metric == "cv" && $0.scope == "all layers" }?.test)
        let expected = try Statistics.welchTTest(balanced.map { $0.overall.load.cv! }, skewed.map { $0.overall.load.cv! })
        XCTAssertEqual(cv, expected)
        XCTAssertLessThan(try XCTUnwrap(cv.p), 0.01)
        XCTAssertLessThan(cv.difference, 0)
        // No labels: the mutual information is undefined, so there is no test.
        XCTAssertNil(comparison.metrics.first { $0.metric == "mutual_information_bits" }?.test)
        XCTAssertEqual(comparison.metrics.first { $0.metric == "gini" }?.scope, "layer 0")
        // Holm within the cv family (layer 0, layer 1, all layers), the Welch interval and Hedges' g.
        let family = comparison.metrics.filter { $0.metric == "cv" }
        XCTAssertEqual(family.count, 3)
        let adjusted = Statistics.holm(family.map { $0.test?.p })
        XCTAssertEqual(family.map(\.holmP), adjusted)
        let all = try XCTUnwrap(family.last)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(all.holmP), try XCTUnwrap(cv.p))
        let ci = try XCTUnwrap(Statistics.welchDifferenceInterval(cv))
        XCTAssertEqual(all.differenceLower, ci.lower)
        XCTAssertEqual(all.differenceUpper, ci.upper)
        XCTAssertLessThan(try XCTUnwrap(all.differenceUpper), 0)
        XCTAssertEqual(all.hedgesG, Statistics.hedgesG(cv))
        XCTAssertEqual(all.minimumDetectableDifference, Statistics.minimumDetectableDifference(cv))
        XCTAssertNil(all.paired, "no seeds, no pairs")

        // Seeds 4, 5, 6 against 6, 5, 7: the paired test over seeds 5 and 6 (A − B of each), its
        // Holm adjustment within the cv family.
        let paired = try compareRuns(balanced, skewed, seedsA: [4, 5, 6], seedsB: [6, 5, 7])
        let allPaired = try XCTUnwrap(paired.metrics.first { $0.metric == "cv" && $0.scope == "all layers" }?.paired)
        let d = [balanced[1].overall.load.cv! - skewed[1].overall.load.cv!, balanced[2].overall.load.cv! - skewed[0].overall.load.cv!]
        let mean = (d[0] + d[1]) / 2
        let sd = (((d[0] - mean) * (d[0] - mean) + (d[1] - mean) * (d[1] - mean)) / 1).squareRoot()
        XCTAssertEqual(allPaired.pairs, 2)
        XCTAssertEqual(allPaired.meanDifference, mean, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(allPaired.t), mean / (sd / 2.0.squareRoot()), accuracy: 1e-9)
        XCTAssertEqual(allPaired.degreesOfFreedom, 1)
        let pairedFamily = paired.metrics.filter { $0.metric == "cv" }.map(\.paired)
        XCTAssertEqual(pairedFamily.map { $0?.holmP }, Statistics.holm(pairedFamily.map { $0?.p }))
    }
}
