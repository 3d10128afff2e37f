import Foundation
import SwitchyardTensorCore

/// `remoe`: ReLU routing (Liu et al., "ReMoE: Fully Differentiable Mixture-of-Experts with ReLU
/// Routing", arXiv 2412.14711; reference: thu-ml/ReMoE `megatron/core/transformer/moe/router.py`
/// `ReLURouter`, `megatron/training/training.py`).
///
/// Gates R = ReLU(x·Wᵀ): a token goes to every expert with R_te > 0 with weight R_te (not
/// normalised; a token may get no expert and pass through the residual). Sparsity is controlled
/// by an L1 regulariser with ReMoE's load-balancing weights, per layer
/// λ·E/(k·T²)·Σ_e count_e·Σ_t R_te (count_e = tokens routed to e, counted, not differentiated),
/// whose λ adapts once per training step toward the target sparsity 1 − k/E: S = the mean fraction
/// of zero gates over all MoE layers; λ ×= 1.2 when S < 1 − k/E, else λ /= 1.2; λ₀ = 1e-8. One λ for
/// the model: every layer keeps it as router state and applies the same update from every
/// layer's facts, so the copies stay equal.
public final class ReMoERouter: Router {
    /// ReMoE hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// The target active experts per token: sparsity 1 − k/E.
        public var k = 1
        /// λ₀.
        public var initialLambda: Float = 1e-8
        /// The factor λ is multiplied or divided by each step.
        public var lambdaStep: Float = 1.2

        /// The paper's defaults.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "k": "target active experts per token (target sparsity 1 − k/E)",
            "initialLambda": "λ₀ of the L1 regulariser",
            "lambdaStep": "λ is multiplied or divided by this after each step",
        ]

        /// k in 1…E, λ₀ > 0, step > 1.
        public func validate(expertCount: Int) throws {
            try requireRange(k >= 1 && k <= expertCount, "remoe", "k", k, "1 to E = \(expertCount)")
            try requireRange(initialLambda > 0 && initialLambda.isFinite, "remoe", "initialLambda", initialLambda, "a finite number > 0")
            try requireRange(lambdaStep > 1 && lambdaStep.isFinite, "remoe", "lambdaStep", lambdaStep, "a finite number > 1")
        }
    }

    /// "remoe".
    public static let name = "remoe"
    /// One sentence.
    public static let summary = "ReLU gates, every expert with a positive gate, adaptive L1 toward sparsity 1 − k/E (Liu et al. 2024)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// W, logits x·Wᵀ.
    public let gate: RouterGate
    /// λ (router state, one value).
    public let lambda: RouterState
    /// W.
    public var parameters: [Parameter] { [gate.weight] }
    /// λ.
    public var state: [RouterState] { [lambda] }
    /// Experts per token vary around k.
    public var traits: RouterTraits { RouterTraits(k: nil, expertsPerTokenVary: true) }

    private var builder = RoutingPlanBuilder()
    private var offsets: [Int] = [], experts: [Int32] = [], weights: [Float] = []
    private var counts: [Int] = []
    private var usedLambda: Float = 0

    /// A ReMoE router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = RouterGate(name: "gate.weight", width: modelWidth, experts: expertCount, rng: &rng)
        lambda = RouterState(name: "lambda", values: [configuration.initialLambda])
    }

    /// Every expert with a positive gate.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount
        let z = gate.forward(x, tokenCount: n)
        offsets = [0]
        experts.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
        counts = [Int](repeating: 0, count: e)
        var sums = [Double](repeating: 0, count: e)
        var first = [Int32](repeating: -1, count: n)
        for t in 0..<n {
            var best: Float = 0
            for j in 0..<e where z[t * e + j] > 0 {
                experts.append(Int32(j))
                weights.append(z[t * e + j])
                counts[j] += 1
                sums[j] += Double(z[t * e + j])
                if z[t * e + j] > best { best = z[t * e + j]; first[t] = Int32(j) }
            }
            offsets.append(experts.count)
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, offsets: offsets, experts: experts, weights: weights)
        plan.preferredExpert = first
        usedLambda = context.training ? lambda[0] : 0
        var l1 = 0.0
        let scale = Double(e) / (Double(configuration.k) * Double(max(n, 1)) * Double(max(n, 1)))
        for j in 0..<e { l1 += Double(counts[j]) * sums[j] }
        let regulariser = Float(Double(usedLambda) * scale * l1)
        plan.auxiliaryLoss = regulariser
        plan.auxiliaryTerms = [("l1", regulariser)]
        plan.scalars = [("sparsity", n > 0 ? 1 - Float(experts.count) / Float(n * e) : 0)]
    }

    /// Through the weights R_te = z_te (z > 0) and the regulariser λ·E/(k·T²)·count_e per active gate.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount
        let z = gate.logits.pointer, dz = gate.dLogits.pointer
        let dw = builder.choiceGradients(dWeights)
        let scale = auxiliaryLossScale * usedLambda * Float(e) / (Float(configuration.k) * Float(max(n, 1)) * Float(max(n, 1)))
        var i = 0
        for t in 0..<n {
            for j in 0..<e where z[t * e + j] > 0 {
                dz[t * e + j] += dw[i] + scale * Float(counts[j])
                i += 1
            }
        }
        gate.backward(x, tokenCount: n, dInput: dInput)
    }

    /// λ ×= step when the model's sparsity is below 1 − k/E, else λ /= step (every layer's facts).
    public func afterStep(_ facts: RoutingStepFacts) {
        var zero = 0.0, total = 0.0
        for layer in facts.allLayers {
            zero += Double(layer.tokenCount * expertCount - layer.assignmentCount)
            total += Double(layer.tokenCount * expertCount)
        }
        let sparsity = total > 0 ? zero / total : 0
        let target = 1 - Double(configuration.k) / Double(expertCount)
        lambda[0] = sparsity < target ? lambda[0] * configuration.lambdaStep : lambda[0] / configuration.lambdaStep
    }
}
