import Foundation
import SwitchyardTensorCore

/// `top-k`: the score conventions of current open MoE models as options of one router
/// (../shared routers-next A10; Mixtral, Qwen2-MoE, OLMoE, DeepSeek-V3, Megatron-Core).
///
/// s = softmax(x·Wᵀ) or sigmoid(x·Wᵀ); each token takes its top k experts by s; combine weights
/// are s at those experts, renormalised over the k (`renormalize: true`: Mixtral, DeepSeek-V3,
/// and Megatron's default top-k-then-softmax, which is the same function) or raw (Qwen2-MoE,
/// OLMoE). Balance loss, Megatron-Core's `switch_load_balancing_loss_func`: α·E·Σ_i f_i·P_i with
/// f_i = count_i/(T·k) over all k choices (counted) and P_i the mean of s_ti/Σ_j s_tj — α at
/// uniform routing. It is computed over the whole batch (the global-batch form of arXiv
/// 2501.11873; with one process and no gradient accumulation, the micro-batch is the batch). No
/// capacity.
public final class TopKRouter: Router {
    /// Top-k hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// Experts per token.
        public var k = 2
        /// softmax or sigmoid scores.
        public var score = SoftmaxGate.Score.softmax
        /// Renormalise the combine weights over the k.
        public var renormalize = true
        /// α of the balance loss (0 = off).
        public var balanceLossWeight: Float = 1e-2
        /// D, the number of device groups of the device-level balance loss (0 = off): experts
        /// 0..<E/D on device 0 and so on, as expert parallelism places them.
        public var deviceGroups = 0
        /// α₂ of DeepSeekMoE's device-level balance loss α₂·Σ_d f′_d·P′_d.
        public var deviceLossWeight: Float = 0

        /// Mixtral's convention: softmax, top-2, renormalised; α = 0.01.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "k": "experts per token",
            "score": "softmax (Mixtral, Qwen2-MoE, OLMoE) or sigmoid (DeepSeek-V3)",
            "renormalize": "renormalise weights over the k (Mixtral, DeepSeek-V3) or not (Qwen2-MoE, OLMoE)",
            "balanceLossWeight": "α of Megatron's balance loss α·E·Σ f_i·P_i, f over all k choices (0 = off)",
            "deviceGroups": "D device groups of experts for the device-level loss (0 = off); must divide E",
            "deviceLossWeight": "α₂ of the device-level loss α₂·Σ_d f′_d·P′_d (DeepSeekMoE)",
        ]

        /// k in 1…E, α ≥ 0.
        public func validate(expertCount: Int) throws {
            try requireRange(k >= 1 && k <= expertCount, "top-k", "k", k, "1 to E = \(expertCount)")
            try requireRange(balanceLossWeight >= 0 && balanceLossWeight.isFinite, "top-k", "balanceLossWeight",
                             balanceLossWeight, "a finite number ≥ 0")
            try requireRange(deviceGroups >= 0 && (deviceGroups == 0 || expertCount % deviceGroups == 0), "top-k", "deviceGroups",
                             deviceGroups, "0 (off) or a divisor of E = \(expertCount)")
            try requireRange(deviceLossWeight >= 0 && deviceLossWeight.isFinite, "top-k", "deviceLossWeight",
                             deviceLossWeight, "a finite number ≥ 0")
        }
    }

    /// "top-k".
    public static let name = "top-k"
    /// One sentence.
    public static let summary = "Top-k of softmax or sigmoid scores, renormalised or not: Mixtral, Qwen2-MoE, OLMoE, DeepSeek-V3 and Megatron conventions."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// W and the score function.
    public let gate: SoftmaxGate
    /// W.
    public var parameters: [Parameter] { gate.parameters }
    /// k experts per token.
    public var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }

    private var builder = RoutingPlanBuilder()
    private var top: [Float] = [], chosen: [Int32] = [], weights: [Float] = []
    private var fraction: [Float] = []
    private var coefficient: [Float] = []   // ∂(losses)/∂P_j per expert
    private let distribution: PlanProbabilities

    /// A top-k router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = SoftmaxGate(width: modelWidth, experts: expertCount, score: configuration.score, rng: &rng)
        distribution = PlanProbabilities(experts: expertCount)
    }

    /// Top k by score.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount, k = configuration.k
        let s = gate.forward(x, tokenCount: n)
        TopKSelection.rows(s, rows: n, width: e, k: k, values: &top, indices: &chosen)
        weights = top
        if configuration.renormalize {
            for t in 0..<n {
                let sum = top[t * k ..< t * k + k].reduce(0, +)
                for j in 0..<k { weights[t * k + j] = top[t * k + j] / sum }
            }
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, k: k, experts: chosen, weights: weights)
        plan.preferredExpert = (0..<n).map { chosen[$0 * k] }
        // The distribution per token: the softmax as it is, sigmoid scores as s/Σs (also the P of the loss).
        let p: UnsafePointer<Float>
        if configuration.score == .softmax {
            plan.probabilities = gate.scoreTensor
            p = UnsafePointer(s)
        } else {
            let q = distribution.reserve(n)
            for t in 0..<n {
                let sum = (0..<e).reduce(Float(0)) { $0 + s[t * e + $1] }
                for j in 0..<e { q[t * e + j] = s[t * e + j] / sum }
            }
            plan.probabilities = distribution.tensor
            p = UnsafePointer(q)
        }
        // f_i = count_i/(T·k) over all k choices; P_i = mean_t q_ti. Balance: α·E·Σ f_i·P_i. Device
        // level (DeepSeekMoE): α₂·Σ_d f′_d·P′_d with f′_d the mean of E·f_i over the device's experts
        // and P′_d the sum of their P_i. Both are linear in P: coefficient_j·P_j summed.
        fraction = [Float](repeating: 0, count: e)
        coefficient = [Float](repeating: 0, count: e)
        var mean = [Float](repeating: 0, count: e)
        if n > 0 {
            for c in chosen { fraction[Int(c)] += 1 / Float(n * k) }
            for t in 0..<n { for j in 0..<e { mean[j] += p[t * e + j] / Float(n) } }
        }
        var loss: Float = 0, deviceLoss: Float = 0
        for j in 0..<e {
            coefficient[j] = configuration.balanceLossWeight * Float(e) * fraction[j]
            loss += coefficient[j] * mean[j]
        }
        let groups = configuration.deviceGroups
        if groups > 0 && configuration.deviceLossWeight > 0 {
            let size = e / groups
            for g in 0..<groups {
                let experts = g * size ..< (g + 1) * size
                let f = experts.reduce(Float(0)) { $0 + Float(e) * fraction[$1] } / Float(size)
                for j in experts {
                    coefficient[j] += configuration.deviceLossWeight * f
                    deviceLoss += configuration.deviceLossWeight * f * mean[j]
                }
            }
        }
        plan.auxiliaryLoss = loss + deviceLoss
        plan.auxiliaryTerms = groups > 0 ? [("balance", loss), ("device", deviceLoss)] : [("balance", loss)]

    }

    /// Through the weights and the balance loss into the scores, then the gate.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, k = configuration.k, e = expertCount, s = gate.scorePointer
        let dw = builder.choiceGradients(dWeights)
        var dScores = [Float](repeating: 0, count: n * e)
        for t in 0..<n {
            if configuration.renormalize {
                var sum: Float = 0, dot: Float = 0
                for j in 0..<k { sum += top[t * k + j]; dot += dw[t * k + j] * weights[t * k + j] }
                for j in 0..<k { dScores[t * e + Int(chosen[t * k + j])] += (dw[t * k + j] - dot) / sum }
            } else {
                for j in 0..<k { dScores[t * e + Int(chosen[t * k + j])] += dw[t * k + j] }
            }
        }
        if n > 0 && coefficient.contains(where: { $0 != 0 }) {
            // The losses are Σ_j coefficient_j·mean_t q_tj with q = s (softmax) or s/Σs (sigmoid).
            let c = auxiliaryLossScale / Float(n)
            for t in 0..<n {
                if configuration.score == .softmax {
                    for j in 0..<e { dScores[t * e + j] += c * coefficient[j] }
                } else {
                    var sum: Float = 0, dot: Float = 0
                    for j in 0..<e { sum += s[t * e + j]; dot += coefficient[j] * s[t * e + j] }
                    for j in 0..<e { dScores[t * e + j] += c * (coefficient[j] - dot / sum) / sum }
                }
            }
        }
        gate.backward(plan: nil, dWeights: nil, base: nil, dScores: dScores, input: x, dInput: dInput)
    }
}
