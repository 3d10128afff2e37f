import SwitchyardTestSupport
import XCTest
@testable import SwitchyardLayers
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// The MoE layer with every router: gradients through experts, combine weights, router and
/// auxiliary losses; and the dispatch/combine arithmetic.
final class MoELayerTests: XCTestCase {
    let n = 12, d = 6, hidden = 8

    func layer(_ router: String, _ options: [String: String] = [:], seed: UInt64 = 3) throws -> MoELayer {
        var rng = SeededRNG(seed: seed)
        let r = try RouterRegistry.shared.makeRouter(name: router, options: options, modelWidth: d, expertCount: 4, rng: &rng)
        return MoELayer(name: "mlp", width: d, hidden: hidden, router: r, rng: &rng)
    }

    func signature(_ plan: RoutingPlan) -> [Int32] { plan.preferredExpert + plan.tokens + plan.expertOffsets.map(Int32.init) }

    func testGradientsWithEveryRouter() throws {
        let cases: [(String, [String: String])] = [
            ("dense", [:]), ("random-token", ["k": "2"]), ("random-batch", [:]),
            ("noisy-top-k", ["importanceLossWeight": "0.3", "loadLossWeight": "0.3"]),
            ("switch", ["balanceLossWeight": "0.3", "zLossWeight": "0.05"]), ("expert-choice", [:]),
            ("top-2", ["secondPolicy": "all", "balanceLossWeight": "0.3"]),
        ]
        for (name, options) in cases {
            let moe = try layer(name, options)
            var dataRNG = SeededRNG(seed: 4)
            let x = Tensor(shape: [n, d])
            dataRNG.fillGaussian(x.pointer, count: x.count, std: 2)
            let c = GradientCheck.randomVector(n * d, rng: &dataRNG)
            let context = RoutingContext(training: true, sharedDraw: 2)
            func loss(_ reference: [Int32]?) -> Double? {
                var rng = SeededRNG(seed: 5)
                let y = try! moe.forward(x.pointer, tokenCount: n, context: context, rng: &rng)
                if let reference, signature(moe.plan) != reference { return nil }
                return GradientCheck.weightedSum(y, c) + Double(moe.plan.auxiliaryLoss)
            }
            for p in moe.parameters { p.gradient.zero() }
            _ = loss(nil)
            let reference = signature(moe.plan)
            let dx = Tensor(shape: [n, d])
            moe.backward(dOutput: c, input: x.pointer, dInput: dx.pointer)
            let inputError = GradientCheck.maxRelativeError(values: x.pointer, count: x.count, analytic: dx.array, sample: 36, normwise: true) { loss(reference) }
            XCTAssertLessThan(inputError, 1e-2, "\(name): dL/dx")
            for p in moe.parameters {
                let error = GradientCheck.maxRelativeError(values: p.value.pointer, count: p.count, analytic: p.gradient.array, normwise: true) { loss(reference) }
                XCTAssertLessThan(error, 1e-2, "\(name): dL/d\(p.name)")
            }
        }
    }

    func testOutputIsTheWeightedSumOfExpertOutputs() throws {
        let moe = try layer("top-2", ["secondPolicy": "all"])
        var rng = SeededRNG(seed: 8)
        let x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count)
        let y = try! moe.forward(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &rng)
        var expected = [Float](repeating: 0, count: n * d)
        let single = Tensor(shape: [1, d])
        for e in 0..<4 {
            for i in moe.plan.range(ofExpert: e) {
                let t = Int(moe.plan.tokens[i])
                moe.experts[e].forward(x.pointer + t * d, rows: 1, into: single.pointer)
                for j in 0..<d { expected[t * d + j] += moe.plan.weights[i] * single.pointer[j] }
            }
        }
        for i in 0..<(n * d) { XCTAssertEqual(y[i], expected[i], accuracy: 1e-5) }
    }

    func testDroppedTokensGetZeroOutput() throws {
        let moe = try layer("switch", ["trainingCapacityFactor": "0.5"])
        var rng = SeededRNG(seed: 9)
        let x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count, std: 3)
        let y = try! moe.forward(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &rng)
        let counts = moe.plan.expertsPerToken()
        XCTAssertTrue(counts.contains(0), "the test needs a dropped token")
        for t in 0..<n where counts[t] == 0 { for j in 0..<d { XCTAssertEqual(y[t * d + j], 0) } }
    }

    func testRandomBatchEvaluationEqualsOneFFNWithAveragedWeights() throws {
        let moe = try layer("random-batch")
        XCTAssertEqual(moe.evaluationParameterCount, moe.experts[0].parameterCount, "known before any evaluation")
        var rng = SeededRNG(seed: 10)
        let x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count)
        let y = Array(UnsafeBufferPointer(start: try! moe.forward(x.pointer, tokenCount: n, context: RoutingContext(training: false), rng: &rng), count: n * d))
        // Average by hand, parameter by parameter, then run one FFN.
        let reference = FeedForward(name: "ref", width: d, hidden: hidden, rng: &rng)
        for (i, p) in reference.parameters.enumerated() {
            for j in 0..<p.count {
                p.value.pointer[j] = moe.experts.map { $0.parameters[i].value.pointer[j] }.reduce(0, +) / 4
            }
        }
        let expected = Tensor(shape: [n, d])
        reference.forward(x.pointer, rows: n, into: expected.pointer)
        for i in 0..<(n * d) { XCTAssertEqual(y[i], expected.pointer[i], accuracy: 1e-5) }
        XCTAssertEqual(moe.evaluationParameterCount, moe.experts[0].parameterCount)
        XCTAssertEqual(moe.parameterCount, 4 * moe.experts[0].parameterCount)
    }
}
