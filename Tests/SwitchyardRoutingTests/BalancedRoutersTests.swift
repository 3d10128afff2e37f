import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// BASE's balanced assignment and X-MoE's scores (issue 17): every expert takes exactly its
/// share, nothing is lost when E does not divide the group, the auction's total affinity is
/// optimal within m·ε, and X-MoE's scores are cosines over a temperature.
final class BalancedRoutersTests: XCTestCase {
    func gaussian(_ count: Int, seed: UInt64, std: Float = 1) -> [Float] {
        var rng = SeededRNG(seed: seed)
        var v = [Float](repeating: 0, count: count)
        rng.fillGaussian(&v, count: count, std: std)
        return v
    }

    /// The best total affinity over every balanced assignment, by brute force (small m).
    func bestTotal(_ a: [Float], m: Int, e: Int) -> Float {
        let q = m / e, extra = m % e
        var best = -Float.infinity
        var loads = [Int](repeating: 0, count: e)
        func go(_ t: Int, _ total: Float) {
            if t == m {
                if loads.filter({ $0 == q + 1 }).count == extra || extra == 0 { best = max(best, total) }
                return
            }
            for j in 0..<e where loads[j] < q + (extra > 0 ? 1 : 0) {
                loads[j] += 1
                go(t + 1, total + a[t * e + j])
                loads[j] -= 1
            }
        }
        go(0, 0)
        return best
    }

    func testAuctionGivesEveryExpertItsShareAndIsOptimalWithinMEpsilon() throws {
        for (m, e, seed) in [(8, 4, 1), (9, 4, 2), (10, 3, 3), (7, 2, 4), (3, 4, 5), (11, 4, 6)] as [(Int, Int, UInt64)] {
            let a = gaussian(m * e, seed: seed, std: 2)
            var auction = BalancedAssignment()
            var out = [Int32](repeating: -1, count: m)
            try a.withUnsafeBufferPointer { try auction.assign($0.baseAddress!, tokens: m, experts: e, into: &out) }
            var loads = [Int](repeating: 0, count: e)
            for x in out { XCTAssertTrue(x >= 0 && Int(x) < e, "every token assigned (m \(m), E \(e))"); loads[Int(x)] += 1 }
            XCTAssertEqual(loads.sorted(), (0..<e).map { m / e + ($0 >= e - m % e ? 1 : 0) },
                           "loads ⌊m/E⌋ or ⌈m/E⌉ with exactly m mod E of the larger (m \(m), E \(e))")
            let total = (0..<m).reduce(Float(0)) { $0 + a[$1 * e + Int(out[$1])] }
            let range = (a.max()! - a.min()!)
            let optimum = bestTotal(a, m: m, e: e)
            XCTAssertGreaterThanOrEqual(total, optimum - Float(m) * max(range * 0.02, 1e-4) - 1e-4, "m \(m), E \(e)")
        }
        // Extreme and equal affinities settle too; a NaN is an error, not a silent result.
        var auction = BalancedAssignment()
        var out = [Int32](repeating: -1, count: 64)
        let extreme = (0..<(64 * 4)).map { $0 % 4 == 0 ? Float(1e4) : -1e4 }
        try extreme.withUnsafeBufferPointer { try auction.assign($0.baseAddress!, tokens: 64, experts: 4, into: &out) }
        XCTAssertEqual((0..<4).map { j in out.filter { $0 == j }.count }, [16, 16, 16, 16])
        let flat = [Float](repeating: 0.5, count: 64 * 4)
        try flat.withUnsafeBufferPointer { try auction.assign($0.baseAddress!, tokens: 64, experts: 4, into: &out) }
        XCTAssertEqual((0..<4).map { j in out.filter { $0 == j }.count }, [16, 16, 16, 16])
        var bad = flat
        bad[17] = .nan
        XCTAssertThrowsError(try bad.withUnsafeBufferPointer { try auction.assign($0.baseAddress!, tokens: 64, experts: 4, into: &out) }) {
            XCTAssertEqual("\($0)", "balanced assignment: affinity of token 4 for expert 1 is nan")
        }
    }

    func testBASEBalancesEachGroupInTrainingAndIsGreedyAtEvaluation() throws {
        var rng = SeededRNG(seed: 5)
        let router = try RouterRegistry.shared.makeRouter(name: "base", options: [:], modelWidth: 6, expertCount: 4, rng: &rng) as! BaseRouter
        // Orthogonal centroids of norm 0.1.
        let w = router.gate.weight.value.array
        for i in 0..<4 {
            for j in 0..<4 {
                let dot = (0..<6).reduce(Float(0)) { $0 + w[i * 6 + $1] * w[j * 6 + $1] }
                XCTAssertEqual(dot, i == j ? 0.01 : 0, accuracy: 1e-6)
            }
        }
        // Tokens that all prefer expert 0: training still gives each expert its share of each group.
        let x = Tensor(shape: [2 * 9 * 3, 6])
        let noise = gaussian(x.count, seed: 3, std: 0.3)
        for t in 0..<54 { for i in 0..<6 { x.pointer[t * 6 + i] = 5 * w[i] / 0.1 + noise[t * 6 + i] } }
        let context = RoutingContext(training: true, tokensPerImage: 9, imagesPerGroup: 3)
        let plan = RoutingPlan()
        try router.route(x.pointer, tokenCount: 54, context: context, rng: &rng, plan: plan)
        XCTAssertEqual(plan.assignmentCount, 54, "nothing dropped")
        for g in context.groups(tokenCount: 54) {
            let loads = (0..<4).map { e in plan.range(ofExpert: e).filter { g.contains(Int(plan.tokens[$0])) }.count }
            XCTAssertEqual(loads.sorted(), [6, 7, 7, 7], "27 tokens over 4 experts: 6 or 7 each, none lost")
        }
        XCTAssertEqual(plan.capacity, 14)
        // Weights are sigmoid(x·w_e) of the assigned expert.
        for e in 0..<4 {
            for i in plan.range(ofExpert: e) {
                let t = Int(plan.tokens[i])
                let a = (0..<6).reduce(Float(0)) { $0 + x.pointer[t * 6 + $1] * w[e * 6 + $1] }
                XCTAssertEqual(plan.weights[i], 1 / (1 + exp(-a)), accuracy: 1e-5)
            }
        }
        // Evaluation: greedy top-1, here every token on expert 0.
        try router.route(x.pointer, tokenCount: 54, context: RoutingContext(training: false, tokensPerImage: 9, imagesPerGroup: 3),
                         rng: &rng, plan: plan)
        XCTAssertEqual(plan.load(ofExpert: 0), 54)
        XCTAssertThrowsError(try RouterRegistry.shared.makeRouter(name: "base", options: ["auctionEpsilon": "0"], modelWidth: 6,
                                                                  expertCount: 4, rng: &rng)) {
            XCTAssertEqual("\($0)", "router base: auctionEpsilon = 0.0 is not allowed; expected a number in (0, 1]")
        }
    }

    func testXMoEScoresAreCosinesOverTheTemperature() throws {
        var rng = SeededRNG(seed: 5)
        let router = try RouterRegistry.shared.makeRouter(name: "xmoe", options: ["routingDimension": "3", "initialTemperature": "0.5"],
                                                          modelWidth: 6, expertCount: 4, rng: &rng) as! XMoERouter
        let x = Tensor(shape: [5, 6])
        rng.fillGaussian(x.pointer, count: 30, std: 1)
        let plan = RoutingPlan()
        try router.route(x.pointer, tokenCount: 5, context: RoutingContext(training: false), rng: &rng, plan: plan)
        let wp = router.projection.weight.value.array, emb = router.embeddings.value.array
        for t in 0..<5 {
            let q = (0..<3).map { i in (0..<6).reduce(Float(0)) { $0 + wp[i * 6 + $1] * x.pointer[t * 6 + $1] } }
            let cos = (0..<4).map { j -> Float in
                let e = emb[(j * 3)..<(j * 3 + 3)]
                let dot = zip(q, e).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                return dot / (q.reduce(0) { $0 + $1 * $1 }.squareRoot() * e.reduce(0) { $0 + $1 * $1 }.squareRoot())
            }
            let z = cos.map { $0 / 0.5 }, top = z.max()!, s = z.reduce(Float(0)) { $0 + exp($1 - top) }
            for j in 0..<4 { XCTAssertEqual(plan.probabilities!.pointer[t * 4 + j], exp(z[j] - top) / s, accuracy: 1e-5) }
        }
        XCTAssertThrowsError(try RouterRegistry.shared.makeRouter(name: "xmoe", options: ["variant": "fairseq"], modelWidth: 6,
                                                                  expertCount: 4, rng: &rng)) {
            XCTAssertEqual("\($0)", "router xmoe: variant = fairseq is not allowed; expected paper or torchscale")
        }
    }
}
