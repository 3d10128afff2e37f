import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// Properties each router promises, checked on random inputs.
final class RouterPropertyTests: XCTestCase {
    func makeRouter(_ name: String, _ options: [String: String] = [:], experts: Int = 4, width: Int = 8) throws -> any Router {
        var rng = SeededRNG(seed: 1)
        return try RouterRegistry.shared.makeRouter(name: name, options: options, modelWidth: width, expertCount: experts, rng: &rng)
    }

    func randomTokens(_ n: Int, width: Int = 8, seed: UInt64 = 2, scale: Float = 2) -> Tensor {
        var rng = SeededRNG(seed: seed)
        let x = Tensor(shape: [n, width])
        rng.fillGaussian(x.pointer, count: x.count, std: scale)
        return x
    }

    func route(_ router: any Router, _ x: Tensor, training: Bool = true, seed: UInt64 = 3, sharedDraw: UInt64 = 0) -> RoutingPlan {
        let plan = RoutingPlan()
        var rng = SeededRNG(seed: seed)
        // Tokens as images of 5 (every test here routes a multiple of 5), for routers that need positions.
        let images = x.shape[0] % 5 == 0 ? 5 : 0
        try! router.route(x.pointer, tokenCount: x.shape[0],
                          context: RoutingContext(training: training, sharedDraw: sharedDraw, tokensPerImage: images),
                     rng: &rng, plan: plan)
        return plan
    }

    func testExpertChoiceGivesEveryExpertExactlyK() throws {
        for (n, c) in [(50, 2.0), (37, 1.0), (10, 0.5), (8, 8.0)] {
            let router = try makeRouter("expert-choice", ["capacityFactor": String(c)]) as! ExpertChoiceRouter
            let plan = route(router, randomTokens(n))
            let k = min(n, Int((Double(n) * c / 4).rounded(.up)))
            XCTAssertEqual(router.tokensPerExpert(tokenCount: n), k)
            for e in 0..<4 { XCTAssertEqual(plan.load(ofExpert: e), k, "n \(n) c \(c) expert \(e)") }
            // Weights are the raw softmax scores of the chosen (token, expert) pairs.
            let s = plan.probabilities!
            for e in 0..<4 {
                for i in plan.range(ofExpert: e) { XCTAssertEqual(plan.weights[i], s[Int(plan.tokens[i]), e]) }
            }
            // Each expert took its k highest-scoring tokens.
            for e in 0..<4 {
                let taken = Set(plan.range(ofExpert: e).map { Int(plan.tokens[$0]) })
                let lowestTaken = taken.map { s[$0, e] }.min() ?? 1
                for t in 0..<n where !taken.contains(t) { XCTAssertLessThanOrEqual(s[t, e], lowestTaken) }
            }
        }
    }

    func testExpertChoiceCapLimitsExpertsPerToken() throws {
        let router = try makeRouter("expert-choice", ["maxExpertsPerToken": "1", "capacityFactor": "1"])
        let plan = route(router, randomTokens(40))
        XCTAssertLessThanOrEqual(plan.expertsPerToken().max()!, 1)
        let uncapped = route(try makeRouter("expert-choice", ["capacityFactor": "1"]), randomTokens(40))
        XCTAssertGreaterThan(uncapped.expertsPerToken().max()!, 1, "the input should need the cap")
    }

    func testSwitchRespectsCapacityAndDropsExactlyTheOverflow() throws {
        for prioritized in ["false", "true"] {
            let router = try makeRouter("switch", ["trainingCapacityFactor": "0.75", "batchPrioritized": prioritized])
            let n = 64
            let plan = route(router, randomTokens(n))
            let capacity = Int((0.75 * Double(n) / 4).rounded(.up))
            XCTAssertEqual(plan.capacity, capacity)
            var firstChoiceCounts = [Int](repeating: 0, count: 4)
            for e in plan.preferredExpert { firstChoiceCounts[Int(e)] += 1 }
            let overflow = firstChoiceCounts.reduce(0) { $0 + max(0, $1 - capacity) }
            let dropped = plan.expertsPerToken().filter { $0 == 0 }.count
            XCTAssertGreaterThan(overflow, 0, "the test needs overflow")
            XCTAssertEqual(dropped, overflow)
            for e in 0..<4 { XCTAssertLessThanOrEqual(plan.load(ofExpert: e), capacity) }
            // Every kept token sits with its first choice, weighted by that probability.
            for e in 0..<4 {
                for i in plan.range(ofExpert: e) {
                    let t = Int(plan.tokens[i])
                    XCTAssertEqual(Int(plan.preferredExpert[t]), e)
                    XCTAssertEqual(plan.weights[i], plan.probabilities![t, e])
                }
            }
            if prioritized == "true" {
                // The kept tokens of an overflowing expert are its most confident ones.
                for e in 0..<4 where firstChoiceCounts[e] > capacity {
                    let kept = Set(plan.range(ofExpert: e).map { Int(plan.tokens[$0]) })
                    let keptMin = kept.map { plan.probabilities![$0, e] }.min()!
                    for t in 0..<n where Int(plan.preferredExpert[t]) == e && !kept.contains(t) {
                        XCTAssertLessThanOrEqual(plan.probabilities![t, e], keptMin)
                    }
                }
            }
        }
        // Evaluation uses the evaluation factor.
        let router = try makeRouter("switch")
        XCTAssertEqual(route(router, randomTokens(64), training: false).capacity, 32)
        XCTAssertEqual(route(router, randomTokens(64), training: true).capacity, 20)
    }

    func testNoisyTopKWithoutNoiseIsPlainTopKSoftmaxGating() throws {
        let router = try makeRouter("noisy-top-k", ["noise": "false", "k": "2"]) as! NoisyTopKRouter
        let x = randomTokens(20)
        let plan = route(router, x)
        let w = router.gate.weight.value
        for t in 0..<20 {
            var logits = [Float](repeating: 0, count: 4)
            for e in 0..<4 { for j in 0..<8 { logits[e] += x[t, j] * w[e, j] } }
            let top = logits.enumerated().sorted { $0.element > $1.element }.prefix(2)
            let z = top.reduce(Float(0)) { $0 + expf($1.element) }
            var gates = [Float](repeating: 0, count: 4)
            for (e, v) in top { gates[e] = expf(v) / z }
            for e in 0..<4 {
                let i = plan.range(ofExpert: e).first { plan.tokens[$0] == Int32(t) }
                XCTAssertEqual(i.map { plan.weights[$0] } ?? 0, gates[e], accuracy: 1e-5)
            }
        }
        // Evaluation never adds noise, even when training would.
        let noisy = try makeRouter("noisy-top-k")
        let a = route(noisy, x, training: false, seed: 1), b = route(noisy, x, training: false, seed: 2)
        XCTAssertEqual(a.weights, b.weights)
        let c = route(noisy, x, training: true, seed: 1), d = route(noisy, x, training: true, seed: 2)
        XCTAssertNotEqual(c.weights, d.weights)
    }

    func testTopTwoRandomPolicyKeepsTheSecondExpertAtTheExpectedRate() throws {
        let router = try makeRouter("top-2", ["trainingCapacityFactor": "100"])
        let n = 4000
        let x = randomTokens(n, scale: 0.7)
        let plan = route(router, x, seed: 11)
        let p = plan.probabilities!
        var expected = 0.0, variance = 0.0
        for t in 0..<n {
            let row = (0..<4).map { p[t, $0] }.sorted(by: >)
            let q = Double(min(1, 2 * row[1] / (row[0] + row[1])))
            expected += q
            variance += q * (1 - q)
        }
        let kept = plan.assignmentCount - n   // every first choice is kept at this capacity
        XCTAssertEqual(Double(kept), expected, accuracy: 4 * variance.squareRoot(),
                       "kept \(kept) second experts, expected \(expected) ± \(variance.squareRoot())")
        XCTAssertGreaterThan(variance, 10, "the test needs uncertain keeps")
    }

    func testTopTwoFirstChoicesFillBuffersFirst() throws {
        let router = try makeRouter("top-2", ["secondPolicy": "all", "trainingCapacityFactor": "0.5"])
        let n = 64
        let plan = route(router, randomTokens(n))
        let capacity = Int((0.5 * 2 * Double(n) / 4).rounded(.up))
        var firstCounts = [Int](repeating: 0, count: 4)
        for e in plan.preferredExpert { firstCounts[Int(e)] += 1 }
        for e in 0..<4 {
            XCTAssertLessThanOrEqual(plan.load(ofExpert: e), capacity)
            let firstsHere = plan.range(ofExpert: e).filter { plan.preferredExpert[Int(plan.tokens[$0])] == Int32(e) }.count
            XCTAssertEqual(firstsHere, min(firstCounts[e], capacity), "expert \(e) must hold its first choices before any second")
        }
    }

    func testRandomTokenPicksKDistinctExpertsUniformly() throws {
        let router = try makeRouter("random-token", ["k": "2"], experts: 5)
        let n = 5000
        let plan = route(router, randomTokens(n))
        XCTAssertEqual(plan.expertsPerToken(), [Int](repeating: 2, count: n))
        for w in plan.weights { XCTAssertEqual(w, 0.5) }
        let expected = Double(2 * n) / 5
        let chi2 = (0..<5).reduce(0.0) { $0 + pow(Double(plan.load(ofExpert: $1)) - expected, 2) / expected }
        XCTAssertLessThan(chi2, 18.47)   // χ²(4) 0.999 quantile
        let capped = route(try makeRouter("random-token", ["capacityFactor": "0.5"]), randomTokens(100))
        for e in 0..<4 { XCTAssertLessThanOrEqual(capped.load(ofExpert: e), 13) }
    }

    func testRandomBatchSharesTheStepDrawAcrossLayersAndAveragesAtEvaluation() throws {
        let router = try makeRouter("random-batch")
        let x = randomTokens(10)
        for draw: UInt64 in [0, 1, 2, 3, 77] {
            let a = route(router, x, seed: 1, sharedDraw: draw), b = route(router, x, seed: 2, sharedDraw: draw)
            XCTAssertEqual(a.tokens, b.tokens)
            XCTAssertEqual(a.load(ofExpert: Int(draw % 4)), 10)
        }
        XCTAssertEqual(router.evaluationMerge, .average)
        let evaluation = route(router, x, training: false)
        XCTAssertEqual(evaluation.load(ofExpert: 0), 10)
    }

    func testSameSeedSamePlanForEveryRouter() throws {
        for entry in RouterRegistry.shared.all {
            let r1 = try makeRouter(entry.name), r2 = try makeRouter(entry.name)
            let x = randomTokens(30)
            for training in [true, false] {
                let a = route(r1, x, training: training, seed: 9, sharedDraw: 5)
                let b = route(r2, x, training: training, seed: 9, sharedDraw: 5)
                XCTAssertEqual(a.tokens, b.tokens, entry.name)
                XCTAssertEqual(a.weights, b.weights, entry.name)
                XCTAssertEqual(a.expertOffsets, b.expertOffsets, entry.name)
                XCTAssertEqual(a.auxiliaryLoss, b.auxiliaryLoss, entry.name)
                XCTAssertEqual(a.soft?.dispatch.array, b.soft?.dispatch.array, entry.name)
                XCTAssertEqual(a.soft?.combine.array, b.soft?.combine.array, entry.name)
            }
        }
    }

    func testBalanceLossKnownAnswers() {
        // Uniform probabilities and balanced first choices: L = α·E·Σ (1/E)(1/E) = α.
        var loss = BalanceLoss(weight: 0.01)
        let uniform = [Float](repeating: 0.25, count: 8 * 4)
        XCTAssertEqual(loss.forward(probabilities: uniform, firstChoice: [0, 1, 2, 3, 0, 1, 2, 3], tokenCount: 8, experts: 4), 0.01, accuracy: 1e-7)
        // Total collapse: every token to expert 0 with probability 1: L = α·E.
        var collapsed = [Float](repeating: 0, count: 8 * 4)
        for t in 0..<8 { collapsed[t * 4] = 1 }
        XCTAssertEqual(loss.forward(probabilities: collapsed, firstChoice: [Int32](repeating: 0, count: 8), tokenCount: 8, experts: 4), 0.04, accuracy: 1e-7)
        var dp = [Float](repeating: 0, count: 8 * 4)
        loss.backward(tokenCount: 8, experts: 4, scale: 1, dProbabilities: &dp)
        XCTAssertEqual(dp[0], 0.01 * 4 * 1 / 8, accuracy: 1e-7)   // α·E·f₀/n with f₀ = 1
        XCTAssertEqual(dp[1], 0)
    }

    func testSwitchZLossKnownAnswer() throws {
        // Zero router weights: logits 0, logsumexp = ln E for every token, z = c_z·(ln E)².
        let router = try makeRouter("switch", ["balanceLossWeight": "0", "zLossWeight": "0.5"]) as! SwitchRouter
        router.gate.gate.weight.value.zero()
        let plan = route(router, randomTokens(10))
        XCTAssertEqual(plan.auxiliaryLoss, 0.5 * logf(4) * logf(4), accuracy: 1e-6)
    }
}
