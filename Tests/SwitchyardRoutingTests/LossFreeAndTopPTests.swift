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
        let router = try make("loss-free", ["updateRate": "0.01"]) as! LossFreeRouter
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
