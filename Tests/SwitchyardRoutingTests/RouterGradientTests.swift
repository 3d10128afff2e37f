import SwitchyardTestSupport
import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// Finite-difference checks of every learned router's backward, through the synthetic loss
/// L = Σ_(t,e) C[t,e]·w_te + auxiliary loss, with the discrete choices held fixed.
final class RouterGradientTests: XCTestCase {
    let n = 16, d = 6, experts = 4

    /// The (token, expert) pairs of a plan, to see whether a perturbation changed a choice.
    /// Includes each token's first choice, which the balance losses count.
    func pairs(_ plan: RoutingPlan) -> [Int] {
        var out: [Int] = plan.preferredExpert.map { -1 - Int($0) }
        for e in 0..<plan.expertCount { for i in plan.range(ofExpert: e) { out.append(Int(plan.tokens[i]) * 64 + e) } }
        return out
    }

    func check(_ name: String, options: [String: String] = [:], training: Bool = true, step: Float = 1e-2, imageTokens: Int = 0,
               normwise: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        var initRNG = SeededRNG(seed: 5)
        let router = try RouterRegistry.shared.makeRouter(name: name, options: options, modelWidth: d,
                                                          expertCount: experts, rng: &initRNG)
        var dataRNG = SeededRNG(seed: 6)
        let x = Tensor(shape: [n, d])
        dataRNG.fillGaussian(x.pointer, count: x.count, std: 3)   // large enough that routers are not uniform
        let c = GradientCheck.randomVector(n * experts, rng: &dataRNG)
        let plan = RoutingPlan()
        let context = RoutingContext(training: training, layer: 0, step: 0, sharedDraw: 0, tokensPerImage: imageTokens)

        func loss(_ reference: [Int]?) -> Double? {
            var rng = SeededRNG(seed: 7)
            try! router.route(x.pointer, tokenCount: n, context: context, rng: &rng, plan: plan)
            if let reference, pairs(plan) != reference { return nil }
            var total = Double(plan.auxiliaryLoss)
            for e in 0..<plan.expertCount {
                for i in plan.range(ofExpert: e) { total += Double(c[Int(plan.tokens[i]) * experts + e]) * Double(plan.weights[i]) }
            }
            return total
        }
        _ = loss(nil)
        let reference = pairs(plan)
        XCTAssertFalse(reference.isEmpty, "\(name): empty plan", file: file, line: line)
        var dWeights: [Float] = []
        for e in 0..<plan.expertCount {
            for i in plan.range(ofExpert: e) { dWeights.append(c[Int(plan.tokens[i]) * experts + e]) }
        }
        for p in router.parameters { p.gradient.zero() }
        let dx = Tensor(shape: [n, d])
        router.backward(plan: plan, dWeights: dWeights, auxiliaryLossScale: 1, input: x.pointer, dInput: dx.pointer)

        let inputError = GradientCheck.maxRelativeError(values: x.pointer, count: x.count, analytic: dx.array,
                                                        sample: 48, step: step, normwise: normwise) { loss(reference) }
        XCTAssertLessThan(inputError, 3e-2, "\(name) \(options): dL/dx", file: file, line: line)
        for p in router.parameters {
            let error = GradientCheck.maxRelativeError(values: p.value.pointer, count: p.count, analytic: p.gradient.array,
                                                       sample: 48, step: step, normwise: normwise) { loss(reference) }
            XCTAssertLessThan(error, 3e-2, "\(name) \(options): dL/d\(p.name)", file: file, line: line)
        }
    }

    func testSwitch() throws {
        try check("switch")
        try check("switch", options: ["batchPrioritized": "true", "trainingCapacityFactor": "0.75"])
        try check("switch", options: ["zLossWeight": "0.1", "balanceLossWeight": "0.5"])
    }

    func testSwitchWithJitter() throws {
        try check("switch", options: ["jitter": "0.1"])
    }

    func testExpertChoice() throws {
        try check("expert-choice")
        try check("expert-choice", options: ["capacityFactor": "1"])
        try check("expert-choice", options: ["maxExpertsPerToken": "2"])
    }

    func testTopTwo() throws {
        try check("top-2", options: ["secondPolicy": "all", "balanceLossWeight": "0.3"])
        try check("top-2")
        try check("top-2", options: ["secondPolicy": "threshold", "normalizeOverKept": "true"])
    }

    func testNoisyTopK() throws {
        try check("noisy-top-k", options: ["importanceLossWeight": "0.5", "loadLossWeight": "0.5"])
        try check("noisy-top-k", options: ["k": "1", "importanceLossWeight": "0.5", "loadLossWeight": "0.5"], step: 3e-3)
        try check("noisy-top-k", options: ["noise": "false", "importanceLossWeight": "0.5"])
    }

    func testLossFree() throws {
        try check("loss-free", options: ["k": "2"])
        try check("loss-free", options: ["k": "2", "score": "softmax"])
        try check("loss-free", options: ["k": "1", "renormalize": "false", "sequenceLossWeight": "0.5"], step: 3e-2)
        try check("loss-free", options: ["k": "3", "score": "softmax", "sequenceLossWeight": "0.5"])
    }

    func testTopP() throws {
        try check("top-p")
        try check("top-p", options: ["threshold": "0.7", "balanceLossWeight": "0.5", "dynamicLossWeight": "0.3"])
    }

    func testSinkhorn() throws {
        try check("sinkhorn")
        try check("sinkhorn", options: ["k": "2"])
        try check("sinkhorn", options: ["k": "2"], training: false)
    }

    func testReMoE() throws {
        // A λ large enough that the regulariser's gradient is checked, not lost in rounding.
        try check("remoe", options: ["initialLambda": "0.05"])
        try check("remoe", options: ["initialLambda": "0.5", "k": "2"])
    }

    func testTopKConventions() throws {
        try check("top-k", options: ["balanceLossWeight": "0.5"])                                   // Mixtral
        try check("top-k", options: ["renormalize": "false", "k": "3", "balanceLossWeight": "0.5"])  // Qwen2-MoE, OLMoE
        try check("top-k", options: ["score": "sigmoid", "balanceLossWeight": "0.5"])               // DeepSeek-V3
        try check("top-k", options: ["score": "sigmoid", "renormalize": "false", "k": "1", "balanceLossWeight": "0.5"], step: 3e-2)
    }

    func testHashWithLearnedWeights() throws {
        try check("hash", options: ["learnedWeights": "true"], imageTokens: 4)
    }

    func testBASEThroughTheSigmoidGateInTrainingAndEvaluation() throws {
        try check("base")
        try check("base", training: false)
    }

    func testXMoEBothVariants() throws {
        // The embeddings have norm 0.32 (torchscale's gain), so a step large enough to rise above
        // Float32 rounding turns their direction visibly: compare normwise with a small step.
        try check("xmoe", options: ["balanceLossWeight": "0.5", "initialTemperature": "0.5"], step: 1e-3, normwise: true)
        try check("xmoe", options: ["balanceLossWeight": "0.5"], step: 1e-3, normwise: true)
        try check("xmoe", options: ["routingDimension": "3", "initialTemperature": "0.5", "trainingCapacityFactor": "0.75"],
                  step: 1e-3, normwise: true)
        try check("xmoe", options: ["variant": "torchscale", "balanceLossWeight": "0.5"], step: 1e-3, normwise: true)
        try check("xmoe", options: ["variant": "torchscale", "routingDimension": "4"], step: 1e-3, normwise: true)
    }

    func testDeepSeekMoEWithTheDeviceLevelLoss() throws {
        try check("deepseek-moe", options: ["k": "2", "balanceLossWeight": "0.5", "deviceGroups": "2", "deviceLossWeight": "0.5"])
        try check("top-k", options: ["score": "sigmoid", "deviceGroups": "2", "deviceLossWeight": "0.5"])
    }
}
