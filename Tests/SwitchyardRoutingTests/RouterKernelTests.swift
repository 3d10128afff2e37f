import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// The fused router kernels: Switch and Expert Choice give the plans of a direct
/// implementation (softmax, argmax, capacity in token order; per-expert top-k by the heap
/// method), the same bits for 1 and 2 threads in forward and backward, and the plan's token
/// index and bulk fill agree with append.
final class RouterKernelTests: XCTestCase {
    override func tearDown() {
        ComputeThreads.count = 1
        super.tearDown()
    }

    private func makeRouter(_ name: String, _ options: [String: String] = [:], experts: Int, width: Int = 16) throws -> any Router {
        var rng = SeededRNG(seed: 1)
        return try RouterRegistry.shared.makeRouter(name: name, options: options, modelWidth: width, expertCount: experts, rng: &rng)
    }

    private func tokens(_ n: Int, width: Int = 16, seed: UInt64 = 2, scale: Float = 20) -> Tensor {
        var rng = SeededRNG(seed: seed)
        let x = Tensor(shape: [n, width])
        rng.fillGaussian(x.pointer, count: x.count, std: scale)
        return x
    }

    /// Route, then backward with fixed dWeights; returns everything observable, as bits.
    private func run(_ router: any Router, _ x: Tensor) -> (plan: [[UInt32]], aux: UInt32, dx: [UInt32], dw: [UInt32]) {
        let n = x.shape[0], d = x.shape[1]
        let plan = RoutingPlan()
        var rng = SeededRNG(seed: 3)
        for p in router.parameters { p.gradient.zero() }
        try! router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &rng, plan: plan)
        var g = SeededRNG(seed: 4)
        var dWeights = [Float](repeating: 0, count: plan.assignmentCount)
        g.fillGaussian(&dWeights, count: dWeights.count)
        let dx = Tensor(shape: [n, d])
        router.backward(plan: plan, dWeights: dWeights, auxiliaryLossScale: 1, input: x.pointer, dInput: dx.pointer)
        let probabilities = plan.probabilities.map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) } ?? []
        return ([plan.tokens.map { UInt32(bitPattern: $0) }, plan.weights.map(\.bitPattern),
                 plan.expertOffsets.map { UInt32($0) }, plan.preferredExpert.map { UInt32(bitPattern: $0) },
                 probabilities.map(\.bitPattern)],
                plan.auxiliaryLoss.bitPattern,
                Array(UnsafeBufferPointer(start: dx.pointer, count: dx.count)).map(\.bitPattern),
                router.parameters.flatMap { Array(UnsafeBufferPointer(start: $0.gradient.pointer, count: $0.count)) }.map(\.bitPattern))
    }

    func testSameBitsForOneAndTwoThreads() throws {
        for (name, options) in [("switch", [:]), ("switch", ["batchPrioritized": "true"]), ("expert-choice", [:]),
                                ("expert-choice", ["capacityFactor": "1"])] as [(String, [String: String])] {
            // (3,000 × 8 × 16 is a gate GEMM whose two halves OpenBLAS computes with other
            // rounding than the whole, whatever the router does; width 8 keeps it in one call.)
            for (n, e, d) in [(1, 2, 16), (700, 2, 16), (3_000, 8, 8), (5_000, 33, 16), (20_000, 5, 16), (40_000, 24, 8)] {
                let x = tokens(n, width: d)
                ComputeThreads.count = 1
                let one = run(try makeRouter(name, options, experts: e, width: d), x)
                ComputeThreads.count = 2
                let two = run(try makeRouter(name, options, experts: e, width: d), x)
                XCTAssertEqual(one.plan, two.plan, "\(name) \(options) n \(n) E \(e)")
                XCTAssertEqual(one.aux, two.aux, "\(name) \(options) n \(n) E \(e)")
                XCTAssertEqual(one.dx, two.dx, "\(name) \(options) n \(n) E \(e)")
                XCTAssertEqual(one.dw, two.dw, "\(name) \(options) n \(n) E \(e)")
            }
        }
    }

    func testSwitchPlanMatchesADirectImplementation() throws {
        for (n, e) in [(10, 4), (2_000, 8), (3_000, 3)] {
            let router = try makeRouter("switch", experts: e) as! SwitchRouter
            let x = tokens(n, scale: 1)
            let plan = RoutingPlan()
            var rng = SeededRNG(seed: 3)
            try! router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &rng, plan: plan)
            let logits = router.gate.gate.forward(x.pointer, tokenCount: n), p = Tensor(shape: [n, e])
            softmaxRows(logits, into: p.pointer, rows: n, width: e)
            var choice = [Int32](repeating: 0, count: n)
            argmaxRows(p.pointer, rows: n, width: e, into: &choice)
            XCTAssertEqual(plan.preferredExpert, choice)
            let capacity = ExpertCapacity.tokens(factor: 1.25, assignments: n, experts: e)
            var lists = [[Int32]](repeating: [], count: e)
            for t in 0..<n where lists[Int(choice[t])].count < capacity { lists[Int(choice[t])].append(Int32(t)) }
            XCTAssertEqual(plan.tokens, lists.flatMap { $0 })
            for ex in 0..<e {
                for i in plan.range(ofExpert: ex) {
                    XCTAssertEqual(plan.weights[i], p.pointer[Int(plan.tokens[i]) * e + ex])
                }
            }
        }
    }

    func testExpertChoicePlanMatchesTheHeapSelection() throws {
        // 40,000 tokens: the selection's candidates are collected inside the row pass.
        for (n, e, c) in [(9, 3, 2.0), (3_000, 8, 1.0), (4_000, 32, 2.0), (500, 2, 1.0), (40_000, 16, 1.0), (40_000, 3, 2.0)] {
            let router = try makeRouter("expert-choice", ["capacityFactor": String(c)], experts: e) as! ExpertChoiceRouter
            let x = tokens(n, scale: 1)
            let plan = RoutingPlan()
            var rng = SeededRNG(seed: 3)
            try! router.route(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &rng, plan: plan)
            let k = router.tokensPerExpert(tokenCount: n)
            let s = plan.probabilities!
            var values = [Float](repeating: 0, count: e * k), indices = [Int32](repeating: 0, count: e * k)
            topKColumns(s.pointer, rows: n, width: e, k: k, values: &values, indices: &indices)
            var expected: [Int32] = []
            for j in 0..<e { expected += indices[(j * k)..<((j + 1) * k)].sorted() }
            XCTAssertEqual(plan.tokens, expected, "n \(n) E \(e)")
        }
    }

    func testBulkFillAndTokenIndexAgreeWithAppend() {
        let appended = RoutingPlan(), bulk = RoutingPlan()
        let lists: [[(Int, Float)]] = [[(0, 0.5), (3, 0.25)], [], [(1, 1), (3, 2), (4, 3)]]
        appended.reset(tokenCount: 6, expertCount: 3)
        for (e, list) in lists.enumerated() { for (t, w) in list { appended.append(expert: e, token: t, weight: w) } }
        appended.finish()
        bulk.reset(tokenCount: 6, expertCount: 3)
        let loads = lists.map(\.count)
        loads.withUnsafeBufferPointer { l in
            bulk.setAssignments(loads: l) { tokens, weights, offsets in
                for (e, list) in lists.enumerated() {
                    for (i, (t, w)) in list.enumerated() { tokens[offsets[e] + i] = Int32(t); weights[offsets[e] + i] = w }
                }
            }
        }
        XCTAssertEqual(bulk.tokens, appended.tokens)
        XCTAssertEqual(bulk.weights, appended.weights)
        XCTAssertEqual(bulk.expertOffsets, appended.expertOffsets)
        for plan in [appended, bulk] {
            plan.withTokenIndex { offsets, entries in
                XCTAssertEqual(Array(UnsafeBufferPointer(start: offsets, count: 7)), [0, 1, 2, 2, 4, 5, 5])
                XCTAssertEqual(Array(UnsafeBufferPointer(start: entries, count: 5)), [0, 2, 1, 3, 4])
            }
        }
        // The index follows changes to the plan.
        bulk.reset(tokenCount: 2, expertCount: 1)
        bulk.append(expert: 0, token: 1, weight: 1)
        bulk.finish()
        bulk.withTokenIndex { offsets, entries in
            XCTAssertEqual(Array(UnsafeBufferPointer(start: offsets, count: 3)), [0, 0, 1])
            XCTAssertEqual(entries[0], 0)
        }
    }
}
