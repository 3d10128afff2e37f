import SwitchyardTestSupport
import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// The public router toolkit and the pieces of Router API v2 that live in the routing module:
/// state, traits, context, groups, the plan builder, capacity, gates and losses.
final class RouterToolkitTests: XCTestCase {
    func tokens(_ n: Int, _ d: Int, seed: UInt64 = 1, std: Float = 2) -> Tensor {
        var rng = SeededRNG(seed: seed)
        let x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count, std: std)
        return x
    }

    func testRouterStateRestoreChecksCountAndFinitenessAndChangesNothingOnError() throws {
        let state = RouterState(name: "bias", values: [1, 2, 3])
        XCTAssertThrowsError(try state.restore([1, 2])) { XCTAssertTrue("\($0)".contains("bias has 2 values; the router needs 3"), "\($0)") }
        XCTAssertThrowsError(try state.restore([1, .nan, 3])) { XCTAssertTrue("\($0)".contains("value 1 is nan"), "\($0)") }
        XCTAssertEqual(state.values, [1, 2, 3])
        try state.restore([4, 5, 6])
        XCTAssertEqual(state.values, [4, 5, 6])
        XCTAssertEqual(RouterStateSummary.scalars(state).map(\.name), ["bias.min", "bias.max"])
        XCTAssertEqual(RouterStateSummary.scalars(RouterState(name: "lambda", values: [0.5])).map(\.value), [0.5])
    }

    func testTraitsRoundTripThroughTraceMetadataAndBuiltinsDeclareThem() throws {
        let traits = RouterTraits(chooser: .experts, k: 2, fillsEveryExpert: true, expertsPerTokenVary: true)
        XCTAssertEqual(RouterTraits(metadata: traits.metadata), traits)
        XCTAssertNil(RouterTraits(metadata: ["router": "switch"]), "older traces record no traits")
        let registry = RouterRegistry.shared
        XCTAssertEqual(try registry.describe(name: "expert-choice", expertCount: 4).traits.fillsEveryExpert, true)
        XCTAssertEqual(try registry.describe(name: "switch", expertCount: 4).traits, RouterTraits())
        XCTAssertEqual(try registry.describe(name: "noisy-top-k", options: ["k": "3"], expertCount: 4).traits.k, 3)
        XCTAssertEqual(try registry.describe(name: "top-2", expertCount: 4).traits.expertsPerTokenVary, true)
        XCTAssertEqual(try registry.describe(name: "top-2", options: ["secondPolicy": "all", "evaluationSecondPolicy": "all"],
                                             expertCount: 4).traits.expertsPerTokenVary, false)
        for entry in registry.all { XCTAssertFalse(try registry.describe(name: entry.name, expertCount: 4).traits.readsLabels, entry.name) }
    }

    func testContextPositionsAndGroups() {
        let c = RoutingContext(training: true, tokensPerImage: 5, imagesPerGroup: 2)
        XCTAssertEqual(c.position(ofToken: 7), 2)
        XCTAssertNil(c.patchIndex(ofToken: 10), "token 10 is image 2's class token")
        XCTAssertEqual(c.patchIndex(ofToken: 11), 0)
        XCTAssertEqual(c.image(ofToken: 14), 2)
        XCTAssertEqual(c.groups(tokenCount: 25), [0..<10, 10..<20, 20..<25])
        XCTAssertEqual(c.groupCount(tokenCount: 25), 3)
        XCTAssertEqual(RoutingContext(training: true).groups(tokenCount: 7), [0..<7])
        XCTAssertNil(RoutingContext(training: true).position(ofToken: 3))
    }

    func testPlanBuilderGroupsByExpertInTokenOrderAndMapsGradientsBack() {
        let plan = RoutingPlan()
        plan.reset(tokenCount: 3, expertCount: 3)
        var builder = RoutingPlanBuilder()
        // Token 0 → experts 2, 0; token 1 → 0 and none; token 2 → 2, 1.
        builder.fill(plan, tokenCount: 3, k: 2, experts: [2, 0, 0, -1, 2, 1], weights: [0.6, 0.4, 1, 0, 0.7, 0.3])
        XCTAssertEqual(plan.tokens, [0, 1, 2, 0, 2])
        XCTAssertEqual(plan.weights, [0.4, 1, 0.3, 0.6, 0.7])
        XCTAssertEqual(plan.expertOffsets, [0, 2, 3, 5])
        XCTAssertEqual(builder.choiceGradients([10, 11, 12, 13, 14]), [13, 10, 11, 0, 14, 12])
        // A variable number of choices per token.
        plan.reset(tokenCount: 2, expertCount: 2)
        builder.fill(plan, tokenCount: 2, offsets: [0, 1, 3], experts: [1, 0, 1], weights: [1, 0.5, 0.5])
        XCTAssertEqual(plan.expertsPerToken(), [1, 2])
        XCTAssertEqual(plan.expertOffsets, [0, 1, 3])
    }

    func testCapacityFactorsAreBoundedAndNeverTrap() throws {
        XCTAssertEqual(ExpertCapacity.tokens(factor: 1.25, assignments: 6400, experts: 4), 2000)
        XCTAssertEqual(ExpertCapacity.tokens(factor: 1e300, assignments: 10, experts: 2), Int.max / 2)
        for (router, field) in [("switch", "trainingCapacityFactor"), ("switch", "evaluationCapacityFactor"),
                                ("top-2", "trainingCapacityFactor"), ("expert-choice", "capacityFactor"),
                                ("random-token", "capacityFactor")] {
            XCTAssertThrowsError(try RouterRegistry.shared.resolvedOptions(name: router, options: [field: "1e300"], expertCount: 4)) {
                XCTAssertTrue("\($0)".contains("\(field) = 1e+300 is not allowed; expected a finite number > 0 and ≤ 1000000"), "\($0)")
            }
        }
    }

    func testUnknownRouterOptionReadsCleanly() {
        XCTAssertThrowsError(try RouterRegistry.shared.resolvedOptions(name: "switch", options: ["foo": "1"], expertCount: 4)) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("router switch: unknown option 'foo'; known here: balanceLossWeight"), text)
            XCTAssertFalse(text.contains("is not allowed"), text)
        }
    }

    func testCapacityAppliesPerRoutingGroup() throws {
        var rng = SeededRNG(seed: 2)
        let e = 4, t = 5, images = 8
        let x = tokens(images * t, 6, seed: 3, std: 4)
        let context = RoutingContext(training: true, tokensPerImage: t, imagesPerGroup: 2)
        for name in ["switch", "top-2", "expert-choice"] {
            let router = try RouterRegistry.shared.makeRouter(name: name, modelWidth: 6, expertCount: e, rng: &rng)
            let plan = RoutingPlan()
            var routing = SeededRNG(seed: 4)
            try router.route(x.pointer, tokenCount: images * t, context: context, rng: &routing, plan: plan)
            let groups = context.groups(tokenCount: images * t)
            XCTAssertEqual(groups.count, 4)
            let perGroupCapacity = plan.capacity! / groups.count
            for group in groups {
                for expert in 0..<e {
                    let inGroup = plan.range(ofExpert: expert).filter { group.contains(Int(plan.tokens[$0])) }.count
                    if name == "expert-choice" {
                        XCTAssertEqual(inGroup, perGroupCapacity, "\(name): every expert takes its capacity in every group")
                    } else {
                        XCTAssertLessThanOrEqual(inGroup, perGroupCapacity, name)
                    }
                }
            }
        }
    }

    func testEveryBuiltinRouterRoutesOneGroupAsBeforeWhenGroupsCoverTheBatch() throws {
        // imagesPerGroup equal to the batch (or 0) is one group: the same plan as no image shape.
        let x = tokens(40, 6)
        for entry in RouterRegistry.shared.all {
            var a = SeededRNG(seed: 1), b = SeededRNG(seed: 1)
            let r1 = try RouterRegistry.shared.makeRouter(name: entry.name, modelWidth: 6, expertCount: 4, rng: &a)
            let r2 = try RouterRegistry.shared.makeRouter(name: entry.name, modelWidth: 6, expertCount: 4, rng: &b)
            let p1 = RoutingPlan(), p2 = RoutingPlan()
            var s1 = SeededRNG(seed: 9), s2 = SeededRNG(seed: 9)
            try r1.route(x.pointer, tokenCount: 40, context: RoutingContext(training: true, tokensPerImage: 5), rng: &s1, plan: p1)
            try r2.route(x.pointer, tokenCount: 40, context: RoutingContext(training: true, tokensPerImage: 5, imagesPerGroup: 8),
                         rng: &s2, plan: p2)
            XCTAssertEqual(p1.tokens, p2.tokens, entry.name)
            XCTAssertEqual(p1.weights, p2.weights, entry.name)
            XCTAssertEqual(p1.soft?.dispatch.array, p2.soft?.dispatch.array, entry.name)
            XCTAssertEqual(p1.soft?.combine.array, p2.soft?.combine.array, entry.name)
        }
    }

    func testGateBackwardMatchesFiniteDifferencesForSoftmaxAndSigmoid() {
        let n = 12, d = 5, e = 4
        let x = tokens(n, d)
        var crng = SeededRNG(seed: 8)
        let c = GradientCheck.randomVector(n * e, rng: &crng)
        for score in [SoftmaxGate.Score.softmax, .sigmoid] {
            var rng = SeededRNG(seed: 3)
            let gate = SoftmaxGate(width: d, experts: e, score: score, rng: &rng)
            func loss() -> Double { GradientCheck.weightedSum(gate.forward(x.pointer, tokenCount: n), c) }
            _ = gate.forward(x.pointer, tokenCount: n)
            gate.parameters[0].gradient.zero()
            let dx = Tensor(shape: [n, d])
            gate.backward(plan: nil, dWeights: nil, base: nil, dScores: c, input: x.pointer, dInput: dx.pointer)
            let dW = gate.parameters[0].gradient.array
            let errW = GradientCheck.maxRelativeError(values: gate.parameters[0].value.pointer, count: e * d, analytic: dW) { loss() }
            XCTAssertLessThan(errW, 2e-2, "\(score) dW")
            let errX = GradientCheck.maxRelativeError(values: x.pointer, count: n * d, analytic: dx.array) { loss() }
            XCTAssertLessThan(errX, 2e-2, "\(score) dx")
        }
    }

    func testSequenceBalanceLossIsAlphaAtUniformRoutingAndItsGradientChecks() {
        // Uniform scores, each expert selected equally often within each sequence: L = α.
        var loss = SequenceBalanceLoss(weight: 1e-4)
        let uniform = [Float](repeating: 0.5, count: 8 * 4)
        let selected: [Int32] = [0, 1, 2, 3, 0, 1, 2, 3]
        XCTAssertEqual(loss.forward(scores: uniform, selected: selected, k: 1, experts: 4, sequences: [0..<4, 4..<8]), 1e-4, accuracy: 1e-9)
        // Gradient with respect to the scores, choices held fixed.
        var rng = SeededRNG(seed: 4)
        var s = (0..<(8 * 4)).map { _ in 0.1 + rng.nextFloat() }
        let sequences = [0..<3, 3..<8]
        var d = [Float](repeating: 0, count: 8 * 4)
        _ = loss.forward(scores: s, selected: selected, k: 1, experts: 4, sequences: sequences)
        loss.backward(scores: s, experts: 4, scale: 1, dScores: &d)
        let err = s.withUnsafeMutableBufferPointer { buffer in
            GradientCheck.maxRelativeError(values: buffer.baseAddress!, count: 32, analytic: d) {
                var l = SequenceBalanceLoss(weight: 1e-4)
                return Double(l.forward(scores: buffer.baseAddress!, selected: selected, k: 1, experts: 4, sequences: sequences))
            }
        }
        XCTAssertLessThan(err, 2e-2)
    }
}
