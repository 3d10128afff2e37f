import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// Properties that pin the loss-free and top-p algorithms (issue 17): the bias selects but never
/// weights and moves toward balance; top-p keeps at least one expert and the smallest prefix whose
/// mass exceeds p.
final class LossFreeAndTopPTests: XCTestCase {
    func tokens(_ n: Int, _ d: Int, seed: UInt64 = 1) -> Tensor {
        var rng = SeededRNG(seed: seed)
        let x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count, std: 2)
        return x
    }

    func make(_ name: String, _ options: [String: String] = [:], experts: Int = 4) throws -> any Router {
        var rng = SeededRNG(seed: 5)
        return try RouterRegistry.shared.makeRouter(name: name, options: options, modelWidth: 6, expertCount: experts, rng: &rng)
    }

    func route(_ router: any Router, _ x: Tensor) throws -> RoutingPlan {
        let plan = RoutingPlan()
        var rng = SeededRNG(seed: 2)
        try router.route(x.pointer, tokenCount: x.shape[0], context: RoutingContext(training: true), rng: &rng, plan: plan)
        return plan
    }

    func testBiasSelectsButNeverEntersTheCombineWeights() throws {
        let router = try make("loss-free", ["k": "2"]) as! LossFreeRouter
        let x = tokens(50, 6)
        try router.bias.restore([0.5, -0.5, 0.2, 0])
        let plan = try route(router, x)
        let s = router.gate.scorePointer
        plan.withTokenIndex { offsets, entries in
            for t in 0..<50 {
                let chosen = (Int(offsets[t])..<Int(offsets[t + 1])).map { Int(entries[$0]) }
                XCTAssertEqual(chosen.count, 2)
                let experts = chosen.map { i in (0..<4).first { plan.range(ofExpert: $0).contains(i) }! }
                // Selected by s + b ...
                let biased = (0..<4).map { s[t * 4 + $0] + router.bias[$0] }
                let ranked = (0..<4).sorted { biased[$0] > biased[$1] || (biased[$0] == biased[$1] && $0 < $1) }
                XCTAssertEqual(Set(experts), Set(ranked.prefix(2)), "token \(t)")
                // ... weighted by s alone, renormalised over the k (sigmoid).
                let sum = experts.reduce(Float(0)) { $0 + s[t * 4 + $1] }
                for (i, e) in zip(chosen, experts) { XCTAssertEqual(plan.weights[i], s[t * 4 + e] / sum, accuracy: 1e-6) }
            }
        }
    }

    func testBiasMovesTowardBalanceBySignOnly() throws {
        let router = try make("loss-free", ["updateRate": "0.01", "k": "1", "renormalize": "false"]) as! LossFreeRouter
        let plan = RoutingPlan()
        let facts = LayerRoutingFacts(layer: 0, tokensPerExpert: [10, 0, 5, 5], droppedTokens: 0, tokenCount: 20, plan: plan)
        router.afterStep(RoutingStepFacts(step: 0, layer: facts, allLayers: [facts]))
        XCTAssertEqual(router.bias.values, [-0.01, 0.01, 0, 0])
        // Over steps of real routing, the busiest expert's share falls.
        let x = tokens(400, 6, seed: 9)
        func maxShare() throws -> Double {
            let p = try route(router, x)
            return Double((0..<4).map { p.load(ofExpert: $0) }.max()!) / 400
        }
        let before = try maxShare()
        for step in 0..<300 {
            let p = try route(router, x)
            let f = LayerRoutingFacts(layer: 0, plan: p)
            router.afterStep(RoutingStepFacts(step: step, layer: f, allLayers: [f]))
        }
        let after = try maxShare()
        XCTAssertLessThan(after, before, "bias balancing lowers the busiest expert's share")
        XCTAssertLessThan(after, 0.3, "close to 1/4 after 300 steps at u = 0.01")
    }

    func testTopPKeepsTheSmallestPrefixAboveTheThresholdAndAtLeastOneExpert() throws {
        for threshold in ["0.05", "0.4", "0.9", "1"] {
            let router = try make("top-p", ["threshold": threshold], experts: 8) as! TopPRouter
            let plan = try route(router, tokens(60, 6, seed: 4))
            let p = plan.probabilities!.pointer, th = Float(threshold)!
            plan.withTokenIndex { offsets, entries in
                for t in 0..<60 {
                    let chosen = (Int(offsets[t])..<Int(offsets[t + 1])).map { Int(entries[$0]) }
                    XCTAssertGreaterThanOrEqual(chosen.count, 1)
                    let mass = chosen.reduce(Float(0)) { $0 + plan.weights[$1] }
                    // Raw probabilities as weights, whose sum passes p unless every expert is taken …
                    XCTAssertTrue(mass > th || chosen.count == 8, "token \(t): mass \(mass) ≤ \(th) with \(chosen.count) experts")
                    // … and without the last (smallest) one it would not.
                    let smallest = chosen.map { plan.weights[$0] }.min()!
                    XCTAssertLessThanOrEqual(mass - smallest, th + 1e-6, "token \(t): not the smallest prefix")
                    let sorted = (0..<8).map { p[t * 8 + $0] }.sorted(by: >)
                    XCTAssertEqual(Double(mass), Double(sorted.prefix(chosen.count).reduce(0, +)), accuracy: 1e-5)
                }
            }
        }
        XCTAssertThrowsError(try make("top-p", ["threshold": "0"]))
        XCTAssertThrowsError(try make("top-p", ["threshold": "1.5"]))
        XCTAssertThrowsError(try make("loss-free", ["k": "5"]))
        // k = 1 with renormalised sigmoid scores would weight every token 1 and never train the gate.
        XCTAssertThrowsError(try make("loss-free", ["k": "1"])) {
            XCTAssertTrue("\($0)".hasPrefix("router loss-free: k = 1 with renormalised sigmoid scores gives every token weight 1"), "\($0)")
        }
        XCTAssertNoThrow(try make("loss-free", ["k": "1", "score": "softmax"]))
    }
}

/// Sinkhorn's balanced matrix and the router on it.
final class SinkhornTests: XCTestCase {
    func logits(_ n: Int, _ e: Int, scale: Float, skew: Float = 0) -> [Float] {
        var rng = SeededRNG(seed: 11)
        return (0..<(n * e)).map { i in scale * rng.nextGaussian() + (i % e == 0 ? skew : 0) }
    }

    func sums(_ z: [Float], _ b: SinkhornRouter.Balance, _ n: Int, _ e: Int) -> (rows: [Double], columns: [Double]) {
        var rows = [Double](repeating: 0, count: n), columns = [Double](repeating: 0, count: e)
        for t in 0..<n {
            for j in 0..<e {
                let p = exp(Double(z[t * e + j]) + b.logRowScale[t] + b.logColumnScale[j])
                rows[t] += p
                columns[j] += p
            }
        }
        return (rows, columns)
    }

    func testBalancedMatrixHasRowSumsOneOverNAndColumnSumsOneOverE() {
        let n = 256, e = 8
        for scale: Float in [0.1, 1, 3, 10] {
            let z = logits(n, e, scale: scale, skew: 2)
            let b = SinkhornRouter.balance(logits: z, rows: n, columns: e, tolerance: 1e-6, maxIterations: 10_000)
            XCTAssertTrue(b.converged, "scale \(scale): \(b.iterations) iterations")
            let (rows, columns) = sums(z, b, n, e)
            // The last update is the columns': exact; the rows are within the tolerance's reach.
            for r in rows { XCTAssertEqual(r * Double(n), 1, accuracy: 1e-5, "scale \(scale)") }
            for c in columns { XCTAssertEqual(c * Double(e), 1, accuracy: 1e-9, "scale \(scale)") }
        }
    }

    func testExtremeLogitsNeitherOverflowNorGiveNaN() {
        let n = 64, e = 4
        var z = logits(n, e, scale: 1)
        for i in stride(from: 0, to: z.count, by: 3) { z[i] = i % 2 == 0 ? 1e4 : -1e4 }
        let b = SinkhornRouter.balance(logits: z, rows: n, columns: e, tolerance: 1e-4, maxIterations: 200)
        XCTAssertTrue(b.logRowScale.allSatisfy(\.isFinite) && b.logColumnScale.allSatisfy(\.isFinite))
        let (_, columns) = sums(z, b, n, e)
        XCTAssertTrue(columns.allSatisfy(\.isFinite))
        // A capped run that cannot converge says so.
        let capped = SinkhornRouter.balance(logits: logits(n, e, scale: 10, skew: 5), rows: n, columns: e, tolerance: 1e-12, maxIterations: 2)
        XCTAssertFalse(capped.converged)
        XCTAssertEqual(capped.iterations, 2)
    }

    func testTrainingBalancesLoadsAndReportsIterationsAndNonFiniteLogitsAreAnError() throws {
        var rng = SeededRNG(seed: 5)
        let router = try RouterRegistry.shared.makeRouter(name: "sinkhorn", modelWidth: 6, expertCount: 8, rng: &rng) as! SinkhornRouter
        // Inputs skewed toward expert 0's gate direction.
        let n = 256
        let x = Tensor(shape: [n, 6])
        rng.fillGaussian(x.pointer, count: x.count, std: 1)
        for t in 0..<n { for j in 0..<6 { x.pointer[t * 6 + j] += 3 * router.gate.gate.weight.value.pointer[j] * 100 } }
        let trained = RoutingPlan(), evaluated = RoutingPlan()
        var r = SeededRNG(seed: 1)
        try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &r, plan: trained)
        try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: false), rng: &r, plan: evaluated)
        let balanced = (0..<8).map { trained.load(ofExpert: $0) }, plain = (0..<8).map { evaluated.load(ofExpert: $0) }
        XCTAssertLessThan(balanced.max()!, plain.max()!, "Sinkhorn spreads the load: \(balanced) vs \(plain)")
        XCTAssertEqual(trained.scalars.first?.name, "sinkhorn.iterations")
        x.pointer[0] = .nan
        XCTAssertThrowsError(try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &r, plan: trained)) {
            XCTAssertTrue("\($0)".contains("router sinkhorn: logit") && "\($0)".contains("needs finite logits"), "\($0)")
        }
    }
}

/// ReMoE's ReLU gates and its adaptive λ.
final class ReMoETests: XCTestCase {
    func testGatesAreTheReLUOfTheLogitsAndSparsityApproachesItsTarget() throws {
        var rng = SeededRNG(seed: 5)
        let router = try RouterRegistry.shared.makeRouter(name: "remoe", options: ["initialLambda": "0.01"], modelWidth: 6,
                                                          expertCount: 4, rng: &rng) as! ReMoERouter
        let n = 200
        let x = Tensor(shape: [n, 6])
        rng.fillGaussian(x.pointer, count: x.count, std: 2)
        let plan = RoutingPlan()
        var r = SeededRNG(seed: 1)
        try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &r, plan: plan)
        let z = router.gate.logits.pointer
        plan.withTokenIndex { offsets, entries in
            for t in 0..<n {
                let positive = (0..<4).filter { z[t * 4 + $0] > 0 }
                XCTAssertEqual(Int(offsets[t + 1] - offsets[t]), positive.count, "token \(t)")
                for q in Int(offsets[t])..<Int(offsets[t + 1]) { XCTAssertGreaterThan(plan.weights[Int(entries[q])], 0) }
            }
        }
        // λ rises while the layers are denser than 1 − k/E and falls once they are sparser; plain
        // gradient steps on the regulariser alone then drive the sparsity to the target.
        let start = router.lambda[0]
        var late: [Double] = []
        for step in 0..<600 {
            try router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &r, plan: plan)
            for p in router.parameters { p.gradient.zero() }
            let dx = Tensor(shape: [n, 6])
            router.backward(plan: plan, dWeights: [Float](repeating: 0, count: plan.assignmentCount), auxiliaryLossScale: 1,
                            input: x.pointer, dInput: dx.pointer)
            let w = router.gate.weight
            for i in 0..<w.count { w.value.pointer[i] -= 0.01 * w.gradient.pointer[i] }
            let facts = LayerRoutingFacts(layer: 0, plan: plan)
            router.afterStep(RoutingStepFacts(step: step, layer: facts, allLayers: [facts]))
            if step >= 400 { late.append(1 - Double(plan.assignmentCount) / Double(n * 4)) }
        }
        XCTAssertNotEqual(router.lambda[0], start)
        let sparsity = late.reduce(0, +) / Double(late.count)
        XCTAssertEqual(sparsity, 0.75, accuracy: 0.05, "sparsity settles near 1 − k/E = 0.75 (mean of the last 200 steps; \(late.suffix(5)))")
    }
}

/// The top-k conventions: weights and the balance loss's uniform value.
final class TopKConventionTests: XCTestCase {
    func testWeightsFollowTheConventionAndTheBalanceLossIsAlphaAtUniformRouting() throws {
        var rng = SeededRNG(seed: 5)
        let x = Tensor(shape: [40, 6])
        rng.fillGaussian(x.pointer, count: x.count, std: 2)
        for (options, sums) in [(["renormalize": "true"], true), (["renormalize": "false"], false)] {
            let router = try RouterRegistry.shared.makeRouter(name: "top-k", options: options, modelWidth: 6, expertCount: 4,
                                                              rng: &rng) as! TopKRouter
            let plan = RoutingPlan()
            var r = SeededRNG(seed: 1)
            try router.route(x.pointer, tokenCount: 40, context: RoutingContext(training: true), rng: &r, plan: plan)
            plan.withTokenIndex { offsets, entries in
                for t in 0..<40 {
                    let w = (Int(offsets[t])..<Int(offsets[t + 1])).map { plan.weights[Int(entries[$0])] }
                    XCTAssertEqual(w.count, 2)
                    if sums { XCTAssertEqual(w.reduce(0, +), 1, accuracy: 1e-6) } else { XCTAssertLessThan(w.reduce(0, +), 1) }
                }
            }
        }
        // Zero gate: uniform scores; with E = k·m tokens choosing every expert equally, L = α.
        let router = try RouterRegistry.shared.makeRouter(name: "top-k", options: ["k": "1"], modelWidth: 6, expertCount: 4,
                                                          rng: &rng) as! TopKRouter
        router.gate.gate.weight.value.zero()
        let plan = RoutingPlan()
        var r = SeededRNG(seed: 1)
        try router.route(x.pointer, tokenCount: 40, context: RoutingContext(training: true), rng: &r, plan: plan)
        // Ties go to expert 0, so f = (1, 0, 0, 0) and L = α·E·(1·1/4) = α.
        XCTAssertEqual(plan.auxiliaryLoss, 0.01, accuracy: 1e-7)
    }
}

/// Hash routing by position.
final class HashRouterTests: XCTestCase {
    func testPositionsMapThroughTheSavedPermutationTheSameWayInTrainingAndEvaluation() throws {
        var rng = SeededRNG(seed: 5)
        let router = try RouterRegistry.shared.makeRouter(name: "hash", options: ["positions": "16", "classTokenExpert": "2"],
                                                          modelWidth: 6, expertCount: 4, rng: &rng) as! HashRouter
        let x = Tensor(shape: [3 * 17, 6])
        var plans: [RoutingPlan] = []
        for training in [true, false] {
            let plan = RoutingPlan()
            var r = SeededRNG(seed: 1)
            try router.route(x.pointer, tokenCount: 51, context: RoutingContext(training: training, tokensPerImage: 17), rng: &r, plan: plan)
            plans.append(plan)
        }
        XCTAssertEqual(plans[0].tokens, plans[1].tokens)
        XCTAssertEqual(plans[0].preferredExpert.enumerated().filter { $0.offset % 17 == 0 }.map(\.element), [2, 2, 2])
        for t in 0..<51 where t % 17 != 0 {
            XCTAssertEqual(Int(plans[0].preferredExpert[t]), Int(router.table[t % 17 - 1]) % 4)
        }
        // 16 patches over 4 experts: exactly 4 per expert per image, plus the class tokens on expert 2.
        XCTAssertEqual((0..<4).map { plans[0].load(ofExpert: $0) }, [12, 12, 15, 12])
        XCTAssertEqual(Set(router.table.values), Set((0..<16).map(Float.init)), "a permutation")
        // Without an image shape, or with too many patches: a clear error.
        XCTAssertThrowsError(try router.route(x.pointer, tokenCount: 51, context: RoutingContext(training: true), rng: &rng, plan: RoutingPlan()))
        XCTAssertThrowsError(try router.route(x.pointer, tokenCount: 51, context: RoutingContext(training: true, tokensPerImage: 51),
                                              rng: &rng, plan: RoutingPlan())) { XCTAssertTrue("\($0)".contains("positions=N"), "\($0)") }
    }

    func testContentHashIsAFunctionOfThePixelsSavedInTheStateAndTheSameInTrainingAndEvaluation() throws {
        func make(_ seed: UInt64) throws -> HashRouter {
            var rng = SeededRNG(seed: seed)
            return try RouterRegistry.shared.makeRouter(name: "hash", options: ["by": "content", "bits": "4", "classTokenExpert": "1"],
                                                        modelWidth: 6, expertCount: 4, rng: &rng) as! HashRouter
        }
        let router = try make(5)
        XCTAssertEqual(router.state.map(\.name), ["buckets", "hyperplaneSeed"])
        XCTAssertEqual((0..<4).map { e in router.table.values.filter { Int($0) == e }.count }, [4, 4, 4, 4], "each expert owns 16/4 buckets")
        // 2 images of 6 patches of 3 pixels; patch 2 of image 1 repeats patch 0 of image 0.
        var pixels = [Float](repeating: 0, count: 12 * 3)
        var rng = SeededRNG(seed: 9)
        rng.fillGaussian(&pixels, count: pixels.count)
        for j in 0..<3 { pixels[(6 + 2) * 3 + j] = pixels[j] }
        let x = Tensor(shape: [14, 6])
        var plans: [RoutingPlan] = []
        try pixels.withUnsafeBufferPointer { buffer in
            for training in [true, false] {
                var context = RoutingContext(training: training, tokensPerImage: 7)
                context.patchPixels = buffer.baseAddress
                context.pixelsPerPatch = 3
                let plan = RoutingPlan()
                try router.route(x.pointer, tokenCount: 14, context: context, rng: &rng, plan: plan)
                plans.append(plan)
            }
            // A router drawn from another seed routes differently until it is given this one's state.
            let other = try make(6)
            var context = RoutingContext(training: true, tokensPerImage: 7)
            context.patchPixels = buffer.baseAddress
            context.pixelsPerPatch = 3
            let before = RoutingPlan()
            try other.route(x.pointer, tokenCount: 14, context: context, rng: &rng, plan: before)
            XCTAssertNotEqual(before.preferredExpert, plans[0].preferredExpert)
            for (mine, theirs) in zip(router.state, other.state) { try theirs.restore(mine.values) }
            let after = RoutingPlan()
            try other.route(x.pointer, tokenCount: 14, context: context, rng: &rng, plan: after)
            XCTAssertEqual(after.preferredExpert, plans[0].preferredExpert, "the state alone decides the routing")
        }
        XCTAssertEqual(plans[0].preferredExpert, plans[1].preferredExpert)
        XCTAssertEqual(plans[0].preferredExpert[0], 1)
        XCTAssertEqual(plans[0].preferredExpert[7], 1, "class tokens to classTokenExpert")
        XCTAssertEqual(plans[0].preferredExpert[7 + 3], plans[0].preferredExpert[1], "equal pixels, equal expert")
        for t in [1, 2, 3, 4, 5, 6] {
            let b = pixels.withUnsafeBufferPointer { router.bucket(ofPixels: $0.baseAddress! + (t - 1) * 3, count: 3) }
            XCTAssertEqual(Int(plans[0].preferredExpert[t]), Int(router.table[b]))
        }
        // Without pixels: a clear error.
        XCTAssertThrowsError(try router.route(x.pointer, tokenCount: 14, context: RoutingContext(training: true, tokensPerImage: 7),
                                              rng: &rng, plan: RoutingPlan())) {
            XCTAssertEqual("\($0)", "router hash: routes by content and needs the patches' pixels; the call has none")
        }
    }
}
