import Foundation
import SwitchyardTensorCore

/// `loss-free`: auxiliary-loss-free load balancing (Wang et al. 2024, arXiv 2408.15664; DeepSeek-V3,
/// arXiv 2412.19437 §2.1.2; reference: deepseek-ai/DeepSeek-V3 `inference/model.py` `Gate`,
/// Megatron-Core `get_updated_expert_bias`).
///
/// Scores s = sigmoid(x·Wᵀ) (default) or softmax(x·Wᵀ). Each token takes the top k experts of
/// s + b, where b is a per-expert bias; its combine weights are the *unbiased* scores of those
/// experts — for sigmoid scores renormalised over the k (DeepSeek-V3; `renormalize`, refused at
/// k = 1, where every weight would be 1 and the gate would get no gradient), raw for softmax
/// (Wang et al.). Default k = 2: at k = 1 the renormalised form cannot train its gate. After every training
/// step b_e += u·sign(mean load − load_e) from the step's loads (u = 1e-3); b is router state
/// (checkpointed, never trained, unchanged by evaluation). Optional: DeepSeek-V3's sequence-wise
/// balance loss α·Σ_i f_i·P_i per image (``SequenceBalanceLoss``, α = 1e-4 in the paper; 0 here
/// by default, as in Wang et al.). No capacity: nothing is dropped.
public final class LossFreeRouter: Router {
    /// Loss-free hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// Experts per token.
        public var k = 2
        /// `sigmoid` (DeepSeek-V3) or `softmax` scores.
        public var score = SoftmaxGate.Score.sigmoid
        /// u, the bias update rate.
        public var updateRate: Float = 1e-3
        /// α of DeepSeek-V3's sequence-wise (per-image) balance loss (0 = off).
        public var sequenceLossWeight: Float = 0
        /// Renormalise sigmoid scores over the k (DeepSeek-V3); softmax scores are always raw.
        public var renormalize = true

        /// Wang et al.'s defaults (u = 1e-3, no auxiliary loss) with DeepSeek-V3's renormalised sigmoid scores, k = 2.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "k": "experts per token",
            "score": "sigmoid (DeepSeek-V3) or softmax (Wang et al.'s raw weights)",
            "renormalize": "sigmoid scores: renormalise the weights over the k (DeepSeek-V3; needs k ≥ 2) or use them raw",
            "updateRate": "u of b_e += u·sign(mean load − load_e) after each step",
            "sequenceLossWeight": "α of DeepSeek-V3's per-image balance loss (0 = off; the paper uses 1e-4)",
        ]

        /// k in 1…E, u ≥ 0, α ≥ 0.
        public func validate(expertCount: Int) throws {
            try requireRange(k >= 1 && k <= expertCount, "loss-free", "k", k, "1 to E = \(expertCount)")
            if k == 1 && score == .sigmoid && renormalize {
                throw RouterConfigurationError(router: "loss-free", field: "renormalize", value: "",
                    allowed: "k = 1 with renormalised sigmoid scores gives every token weight 1, so the gate would get no "
                        + "gradient and never learn; set renormalize=false (weight = the sigmoid score) or score=softmax, or k ≥ 2")
            }
            try requireRange(updateRate >= 0 && updateRate.isFinite, "loss-free", "updateRate", updateRate, "a finite number ≥ 0")
            try requireRange(sequenceLossWeight >= 0 && sequenceLossWeight.isFinite, "loss-free", "sequenceLossWeight",
                             sequenceLossWeight, "a finite number ≥ 0")
        }
    }

    /// "loss-free".
    public static let name = "loss-free"
    /// One sentence.
    public static let summary = "Top-k of score + bias, bias nudged toward balance after each step, no auxiliary loss (Wang et al. 2024; DeepSeek-V3)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// W and the score function.
    public let gate: SoftmaxGate
    /// b, one value per expert (router state).
    public let bias: RouterState
    /// W.
    public var parameters: [Parameter] { gate.parameters }
    /// The bias.
    public var state: [RouterState] { [bias] }
    /// k experts per token.
    public var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }

    private var renormalizes: Bool { configuration.score == .sigmoid && configuration.renormalize }
    private var builder = RoutingPlanBuilder()
    private var biased: [Float] = [], top: [Float] = [], chosen: [Int32] = [], weights: [Float] = []
    private var sequenceLoss: SequenceBalanceLoss
    private let distribution: PlanProbabilities

    /// A loss-free router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = SoftmaxGate(width: modelWidth, experts: expertCount, score: configuration.score, rng: &rng)
        bias = RouterState(name: "bias", count: expertCount)
        sequenceLoss = SequenceBalanceLoss(weight: configuration.sequenceLossWeight)
        distribution = PlanProbabilities(experts: expertCount)
    }

    /// Top-k of s + b; weights from s.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount, k = configuration.k
        let s = gate.forward(x, tokenCount: n)
        if biased.count != n * e { biased = [Float](repeating: 0, count: n * e) }
        bias.values.withUnsafeBufferPointer { b in
            for t in 0..<n { for j in 0..<e { biased[t * e + j] = s[t * e + j] + b[j] } }
        }
        TopKSelection.rows(biased, rows: n, width: e, k: k, values: &top, indices: &chosen)
        if weights.count != n * k { weights = [Float](repeating: 0, count: n * k) }
        for t in 0..<n {
            var sum: Float = 0
            for j in 0..<k { sum += s[t * e + Int(chosen[t * k + j])] }
            for j in 0..<k {
                let v = s[t * e + Int(chosen[t * k + j])]
                weights[t * k + j] = renormalizes ? v / sum : v
            }
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, k: k, experts: chosen, weights: weights)
        plan.preferredExpert = (0..<n).map { chosen[$0 * k] }
        // Traces want a distribution per token: softmax scores as they are, sigmoid ones as s/Σs.
        if configuration.score == .softmax {
            plan.probabilities = gate.scoreTensor
        } else {
            let p = distribution.reserve(n)
            for t in 0..<n {
                var sum: Float = 0
                for j in 0..<e { sum += s[t * e + j] }
                for j in 0..<e { p[t * e + j] = s[t * e + j] / sum }
            }
            plan.probabilities = distribution.tensor
        }
        let loss = sequenceLoss.forward(scores: s, selected: chosen, k: k, experts: e, sequences: sequences(n, context))
        plan.auxiliaryLoss = loss
        plan.auxiliaryTerms = configuration.sequenceLossWeight > 0 ? [("sequence", loss)] : []
    }

    /// One sequence per image (the whole call when the tokens are not images).
    private func sequences(_ n: Int, _ context: RoutingContext) -> [Range<Int>] {
        let t = context.tokensPerImage
        guard t > 0, n % t == 0 else { return [0..<n] }
        return stride(from: 0, to: n, by: t).map { $0 ..< $0 + t }
    }

    /// Through the combine weights (w_j = s_j/Σ_chosen s renormalised, else s_j) and the
    /// sequence loss into the scores, then the gate. The bias only selects: no gradient.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, k = configuration.k, e = expertCount, s = gate.scorePointer
        let dw = builder.choiceGradients(dWeights)
        var dScores = [Float](repeating: 0, count: n * e)
        for t in 0..<n {
            if renormalizes {
                var sum: Float = 0, dot: Float = 0
                for j in 0..<k { sum += s[t * e + Int(chosen[t * k + j])]; dot += dw[t * k + j] * weights[t * k + j] }
                for j in 0..<k { dScores[t * e + Int(chosen[t * k + j])] += (dw[t * k + j] - dot) / sum }
            } else {
                for j in 0..<k { dScores[t * e + Int(chosen[t * k + j])] += dw[t * k + j] }
            }
        }
        dScores.withUnsafeMutableBufferPointer { ds in
            sequenceLoss.backward(scores: s, experts: e, scale: auxiliaryLossScale, dScores: ds.baseAddress!)
        }
        gate.backward(plan: nil, dWeights: nil, base: nil, dScores: dScores, input: x, dInput: dInput)
    }

    /// b_e += u·sign(mean load − load_e) from this layer's loads of the step.
    public func afterStep(_ facts: RoutingStepFacts) {
        let loads = facts.layer.tokensPerExpert
        let mean = Float(loads.reduce(0, +)) / Float(max(loads.count, 1))
        for j in 0..<expertCount {
            let gap = mean - Float(loads[j])
            bias[j] += configuration.updateRate * (gap > 0 ? 1 : gap < 0 ? -1 : 0)
        }
    }
}
