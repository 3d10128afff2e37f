import SwitchyardTestSupport
import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// The `soft-moe` router (Soft MoE, Puigcerver et al. 2023): its gradients, the normalisations of
/// D and C, per-image groups, slots from the capacity factor, option errors and the statistics rule.
final class SoftMoERouterTests: XCTestCase {
    let d = 6, experts = 3

    func makeRouter(_ options: [String: String] = [:], experts: Int = 3, width: Int = 6) throws -> SoftMoERouter {
        var rng = SeededRNG(seed: 5)
        return try XCTUnwrap(RouterRegistry.shared.makeRouter(name: "soft-moe", options: options, modelWidth: width,
                                                              expertCount: experts, rng: &rng) as? SoftMoERouter)
    }

    func tokens(_ n: Int, seed: UInt64 = 6, std: Float = 2) -> Tensor {
        var rng = SeededRNG(seed: seed)
        let x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count, std: std)
        return x
    }

    /// L = Σ A∘D + Σ B∘C (A or B zero to isolate a path): dL/dx, dL/dΦ and dL/dscale against
    /// central differences. The scale is one value: its check is exact, not sampled.
    func checkGradients(dispatchWeight: Float, combineWeight: Float, label: String,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let router = try makeRouter(["slotsPerExpert": "2"])
        router.scale.value.pointer[0] = 4   // sharper softmaxes than the initial 1: a stricter check
        let n = 10, context = RoutingContext(training: true, tokensPerImage: 5, imagesPerGroup: 2)
        let x = tokens(n)
        var rng = SeededRNG(seed: 7)
        let s = experts * 2
        let a = GradientCheck.randomVector(n * s, rng: &rng, scale: dispatchWeight)
        let b = GradientCheck.randomVector(n * s, rng: &rng, scale: combineWeight)
        let plan = RoutingPlan()
        func loss() -> Double? {
            var r = SeededRNG(seed: 1)
            try! router.route(x.pointer, tokenCount: n, context: context, rng: &r, plan: plan)
            let soft = plan.soft!
            return GradientCheck.weightedSum(soft.dispatch.pointer, a) + GradientCheck.weightedSum(soft.combine.pointer, b)
        }
        _ = loss()
        let soft = try XCTUnwrap(plan.soft)
        soft.dDispatch.pointer.update(from: a, count: a.count)
        soft.dCombine.pointer.update(from: b, count: b.count)
        for p in router.parameters { p.gradient.zero() }
        let dx = Tensor(shape: [n, d])
        router.backward(plan: plan, dWeights: [], auxiliaryLossScale: 1, input: x.pointer, dInput: dx.pointer)
        // Norm-wise over the sampled coordinates (robust to Float32 rounding where a gradient is tiny;
        // a dropped term of either normalisation gives 0.2–1).
        let inputError = GradientCheck.maxRelativeError(values: x.pointer, count: x.count, analytic: dx.array,
                                                        sample: 60, normwise: true, loss: loss)
        XCTAssertLessThan(inputError, 1e-2, "\(label): dL/dx", file: file, line: line)
        for p in router.parameters {
            let error = GradientCheck.maxRelativeError(values: p.value.pointer, count: p.count, analytic: p.gradient.array,
                                                       sample: 60, normwise: true, loss: loss)
            XCTAssertLessThan(error, 1e-2, "\(label): dL/d\(p.name)", file: file, line: line)
        }
        XCTAssertNotEqual(router.scale.gradient.pointer[0], 0, "\(label): the scale gets a gradient")
    }

    func testGradientsThroughTheDispatchPath() throws {
        try checkGradients(dispatchWeight: 1, combineWeight: 0, label: "dispatch")
    }

    func testGradientsThroughTheCombinePath() throws {
        try checkGradients(dispatchWeight: 0, combineWeight: 1, label: "combine")
    }

    func testGradientsThroughBothPaths() throws {
        try checkGradients(dispatchWeight: 1, combineWeight: 1, label: "both")
    }

    func testDispatchColumnsSumToOnePerImageAndCombineRowsOverSlots() throws {
        let router = try makeRouter(["slotsPerExpert": "3"], experts: 4)
        let n = 21, x = tokens(n)
        let plan = RoutingPlan()
        var rng = SeededRNG(seed: 1)
        // A routing group of 3 images: Soft MoE still routes image by image.
        try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true, tokensPerImage: 7, imagesPerGroup: 3),
                         rng: &rng, plan: plan)
        let soft = try XCTUnwrap(plan.soft)
        XCTAssertEqual(soft.groups, [0..<7, 7..<14, 14..<21])
        XCTAssertEqual(soft.slotsPerExpert, 3)
        let s = soft.slotCount
        XCTAssertEqual(s, 12)
        for g in soft.groups {
            for j in 0..<s {
                XCTAssertEqual(g.reduce(Float(0)) { $0 + soft.dispatch.pointer[$1 * s + j] }, 1, accuracy: 1e-5)
            }
        }
        for t in 0..<n {
            XCTAssertEqual((0..<s).reduce(Float(0)) { $0 + soft.combine.pointer[t * s + $1] }, 1, accuracy: 1e-5)
        }
        XCTAssertEqual(plan.assignmentCount, 0)
        XCTAssertEqual(plan.auxiliaryLoss, 0, "no auxiliary loss")
        // The same numbers in evaluation: nothing random, nothing mode-dependent.
        let evaluation = RoutingPlan()
        try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: false, tokensPerImage: 7),
                         rng: &rng, plan: evaluation)
        XCTAssertEqual(evaluation.soft!.dispatch.array, soft.dispatch.array)
        XCTAssertEqual(evaluation.soft!.combine.array, soft.combine.array)
        // An image's D and C depend on that image's tokens only.
        let changed = Tensor(shape: [n, d])
        changed.pointer.update(from: x.pointer, count: x.count)
        for i in 0..<7 * d { changed.pointer[i] += 1 }
        let other = RoutingPlan()
        try router.route(changed.pointer, tokenCount: n, context: RoutingContext(training: true, tokensPerImage: 7),
                         rng: &rng, plan: other)
        XCTAssertNotEqual(Array(other.soft!.dispatch.array[0..<7 * s]), Array(soft.dispatch.array[0..<7 * s]))
        XCTAssertEqual(Array(other.soft!.dispatch.array[7 * s ..< n * s]), Array(soft.dispatch.array[7 * s ..< n * s]))
        XCTAssertEqual(Array(other.soft!.combine.array[7 * s ..< n * s]), Array(soft.combine.array[7 * s ..< n * s]))
    }

    func testTokensThatAreNotImagesFormOneGroupAndPartImagesAreRefused() throws {
        let router = try makeRouter(["slotsPerExpert": "1"])
        let plan = RoutingPlan()
        var rng = SeededRNG(seed: 1)
        try router.route(tokens(9).pointer, tokenCount: 9, context: RoutingContext(training: true), rng: &rng, plan: plan)
        XCTAssertEqual(plan.soft?.groups, [0..<9])
        XCTAssertThrowsError(try router.route(tokens(10).pointer, tokenCount: 10,
                                              context: RoutingContext(training: true, tokensPerImage: 4), rng: &rng, plan: plan)) {
            XCTAssertEqual(String(describing: $0), "router soft-moe: routes image by image; 10 tokens are not whole images of 4 tokens")
        }
    }

    func testSlotsPerExpertFromTheCapacityFactor() throws {
        // fmnist-small: m = 50 tokens, E = 4: p = ⌊50/4 + 0.5⌋ = 13.
        XCTAssertEqual(try makeRouter([:], experts: 4).slotsPerExpert, 13)
        XCTAssertEqual(try makeRouter(["tokensPerImage": "17"], experts: 4).slotsPerExpert, 4)             // 4.25
        XCTAssertEqual(try makeRouter(["tokensPerImage": "17", "capacityFactor": "2"], experts: 4).slotsPerExpert, 9)  // 8.5 → 9
        XCTAssertEqual(try makeRouter(["tokensPerImage": "3"], experts: 8).slotsPerExpert, 1, "at least one slot")
        XCTAssertEqual(try makeRouter(["slotsPerExpert": "2", "capacityFactor": "5"], experts: 4).slotsPerExpert, 2)
        let router = try makeRouter([:], experts: 4, width: 8)
        XCTAssertEqual(router.phi.value.shape, [8, 4 * 13])
        XCTAssertEqual(router.scale.value.array, [1])
        XCTAssertEqual(try makeRouter(["initialScale": "10"]).scale.value.array, [10])
        // Φ ~ N(0, 1/d): its sample standard deviation is near 1/√8.
        let values = router.phi.value.array
        let std = (values.reduce(0) { $0 + $1 * $1 } / Float(values.count)).squareRoot()
        XCTAssertEqual(std, 1 / Float(8).squareRoot(), accuracy: 0.06)
    }

    func testBadOptionsAreRefusedNamingTheFieldAndValue() {
        let cases: [([String: String], String)] = [
            (["slotsPerExpert": "-1"],
             "router soft-moe: slotsPerExpert = -1 is not allowed; expected an integer from 0 (p from capacityFactor) to 4096"),
            (["capacityFactor": "0"],
             "router soft-moe: capacityFactor = 0.0 is not allowed; expected a finite number > 0 and ≤ 1000000"),
            (["capacityFactor": "-2.5"],
             "router soft-moe: capacityFactor = -2.5 is not allowed; expected a finite number > 0 and ≤ 1000000"),
            (["capacityFactor": "nan", "tokensPerImage": "17"],
             "router soft-moe: capacityFactor = nan is not allowed; expected capacityFactor = nan: expected a finite number"),
            (["initialScale": "0"],
             "router soft-moe: initialScale = 0.0 is not allowed; expected a finite number > 0 and ≤ 10000"),
            (["tokensPerImage": "0"],
             "router soft-moe: tokensPerImage = 0 is not allowed; expected an integer from 1 to 1000000"),
            (["capacityFactor": "1000"],
             "router soft-moe: capacityFactor = 1000.0 is not allowed; expected a factor giving at most 4096 slots per expert (gives 12500)"),
        ]
        for (options, message) in cases {
            var rng = SeededRNG(seed: 0)
            XCTAssertThrowsError(try RouterRegistry.shared.makeRouter(name: "soft-moe", options: options, modelWidth: 4,
                                                                      expertCount: 4, rng: &rng)) {
                XCTAssertEqual(String(describing: $0), message)
            }
        }
    }

    func testTraitsDeclareSoftAndRoundTripThroughTraceMetadata() throws {
        let traits = try RouterRegistry.shared.describe(name: "soft-moe", expertCount: 4).traits
        XCTAssertTrue(traits.soft)
        XCTAssertEqual(traits.k, 1, "one record per token")
        XCTAssertEqual(traits.metadata["router.soft"], "true")
        XCTAssertEqual(RouterTraits(metadata: traits.metadata), traits)
        XCTAssertNil(RouterTraits().metadata["router.soft"], "sparse routers' metadata is unchanged")
        let decoded = try JSONDecoder().decode(RouterTraits.self, from: JSONEncoder().encode(traits))
        XCTAssertEqual(decoded, traits)
        // Traits encoded before `soft` existed still decode, as sparse.
        let old = #"{"chooser":"tokens","k":1,"fillsEveryExpert":false,"expertsPerTokenVary":false,"readsLabels":false}"#
        XCTAssertFalse(try JSONDecoder().decode(RouterTraits.self, from: Data(old.utf8)).soft)
        for entry in RouterRegistry.shared.all where entry.name != "soft-moe" {
            XCTAssertFalse(try RouterRegistry.shared.describe(name: entry.name, expertCount: 4).traits.soft, entry.name)
        }
    }

    /// The rule of docs/routers.md: one record per token, its expert of largest combine mass,
    /// weighted by that mass; the masses are the record's probabilities.
    func testStatisticsPlanRecordsEachTokensExpertOfLargestCombineMass() throws {
        let router = try makeRouter(["slotsPerExpert": "2"], experts: 4)
        router.scale.value.pointer[0] = 6
        let n = 16, x = tokens(n)
        let plan = RoutingPlan()
        var rng = SeededRNG(seed: 1)
        try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true, tokensPerImage: 8), rng: &rng, plan: plan)
        let soft = try XCTUnwrap(plan.soft), s = soft.slotCount
        let record = plan.statisticsPlan
        XCTAssertFalse(record === plan)
        XCTAssertNil(record.soft)
        XCTAssertEqual(record.assignmentCount, n)
        XCTAssertEqual(record.expertsPerToken(), [Int](repeating: 1, count: n), "every token has exactly one record")
        let masses = try XCTUnwrap(record.probabilities)
        XCTAssertEqual(masses.shape, [n, 4])
        var expected = [Int](repeating: 0, count: n)
        for t in 0..<n {
            var mass = [Float](repeating: 0, count: 4)
            for slot in 0..<s { mass[slot / 2] += soft.combine.pointer[t * s + slot] }
            for e in 0..<4 { XCTAssertEqual(masses.pointer[t * 4 + e], mass[e], accuracy: 1e-6) }
            XCTAssertEqual(mass.reduce(0, +), 1, accuracy: 1e-5)
            expected[t] = mass.indices.max { mass[$0] < mass[$1] }!
        }
        XCTAssertEqual(record.preferredExpert.map(Int.init), expected)
        for e in 0..<4 {
            for i in record.range(ofExpert: e) {
                let t = Int(record.tokens[i])
                XCTAssertEqual(expected[t], e)
                XCTAssertEqual(record.weights[i], masses.pointer[t * 4 + e])
            }
        }
        XCTAssertGreaterThan(Set(expected).count, 1, "the check needs tokens with different experts")
        // Router facts read the record: loads sum to n, nothing dropped.
        let facts = LayerRoutingFacts(layer: 0, plan: plan)
        XCTAssertEqual(facts.tokensPerExpert, (0..<4).map { e in expected.filter { $0 == e }.count })
        XCTAssertEqual(facts.droppedTokens, 0)
        XCTAssertTrue(facts.plan === plan)
        // Kept until the next route, then rebuilt from the new plan.
        XCTAssertTrue(plan.statisticsPlan === record)
        let first = masses.array
        try router.route(tokens(n, seed: 99).pointer, tokenCount: n, context: RoutingContext(training: true, tokensPerImage: 8),
                         rng: &rng, plan: plan)
        let again = plan.statisticsPlan, c = plan.soft!.combine.pointer
        XCTAssertNotEqual(again.probabilities!.array, first)
        for t in 0..<n {
            for e in 0..<4 {
                XCTAssertEqual(again.probabilities!.pointer[t * 4 + e], c[t * s + 2 * e] + c[t * s + 2 * e + 1], accuracy: 1e-6)
            }
        }
        // A sparse plan is its own record.
        let sparse = RoutingPlan()
        try RouterRegistry.shared.makeRouter(name: "switch", modelWidth: d, expertCount: 4, rng: &rng)
            .route(x.pointer, tokenCount: n, context: RoutingContext(training: false), rng: &rng, plan: sparse)
        XCTAssertTrue(sparse.statisticsPlan === sparse)
    }
}
