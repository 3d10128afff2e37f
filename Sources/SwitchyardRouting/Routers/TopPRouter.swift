import Foundation
import SwitchyardTensorCore

/// `top-p`: dynamic routing (Huang et al. 2024, "Harder Tasks Need More Experts: Dynamic Routing
/// in MoE Models", arXiv 2403.07652; reference: ZhenweiAn/Dynamic_MoE `modeling/modeling_moe.py`).
///
/// p = softmax(x·Wᵀ); sort each token's probabilities in decreasing order and keep the shortest
/// prefix whose sum exceeds the threshold (the expert that crosses it included, so at least one);
/// y = Σ_selected p_e·FFN_e(x) with the raw probabilities (not renormalised). Losses: Switch's
/// balance loss α·E·Σ f_e·P_e (f from first choices) and the dynamic loss β·mean_t(−Σ_e p_te·log p_te),
/// which pushes tokens toward fewer experts. The paper's α and β are not stated in a form we could
/// verify; the defaults here (α = 1e-2 as Switch, β = 1e-4) are Switchyard's. No capacity.
public final class TopPRouter: Router {
    /// Top-p hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// The probability mass p to exceed.
        public var threshold: Float = 0.4
        /// α of the balance loss (0 = off).
        public var balanceLossWeight: Float = 1e-2
        /// β of the dynamic (entropy) loss (0 = off).
        public var dynamicLossWeight: Float = 1e-4

        /// p = 0.4 (the reference configuration).
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "threshold": "p: keep the fewest experts whose probability sum exceeds p",
            "balanceLossWeight": "α of the balance loss α·E·Σ f_e·P_e (0 = off)",
            "dynamicLossWeight": "β of the entropy loss β·mean(−Σ p·log p) (0 = off)",
        ]

        /// p in (0, 1], weights ≥ 0.
        public func validate(expertCount: Int) throws {
            try requireRange(threshold > 0 && threshold <= 1, "top-p", "threshold", threshold, "a number in (0, 1]")
            try requireRange(balanceLossWeight >= 0 && balanceLossWeight.isFinite, "top-p", "balanceLossWeight",
                             balanceLossWeight, "a finite number ≥ 0")
            try requireRange(dynamicLossWeight >= 0 && dynamicLossWeight.isFinite, "top-p", "dynamicLossWeight",
                             dynamicLossWeight, "a finite number ≥ 0")
        }
    }

    /// "top-p".
    public static let name = "top-p"
    /// One sentence.
    public static let summary = "Fewest experts whose probability sum exceeds p, raw probabilities as weights, entropy loss (Huang et al. 2024)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// W and the softmax.
    public let gate: SoftmaxGate
    /// W.
    public var parameters: [Parameter] { gate.parameters }
    /// Tokens choose a varying number of experts.
    public var traits: RouterTraits { RouterTraits(k: nil, expertsPerTokenVary: true) }

    private var builder = RoutingPlanBuilder()
    private var balance: BalanceLoss
    private var order: [Float] = [], orderIndices: [Int32] = []
    private var offsets: [Int] = [], experts: [Int32] = [], weights: [Float] = []

    /// A top-p router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = SoftmaxGate(width: modelWidth, experts: expertCount, rng: &rng)
        balance = BalanceLoss(weight: configuration.balanceLossWeight)
    }

    /// The sorted prefix whose mass exceeds p.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount
        let p = gate.forward(x, tokenCount: n, columnSums: configuration.balanceLossWeight != 0)
        TopKSelection.rows(p, rows: n, width: e, k: e, values: &order, indices: &orderIndices)
        offsets = [0]
        experts.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
        for t in 0..<n {
            var mass: Float = 0
            for j in 0..<e {
                experts.append(orderIndices[t * e + j])
                weights.append(order[t * e + j])
                mass += order[t * e + j]
                if mass > configuration.threshold { break }
            }
            offsets.append(experts.count)
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, offsets: offsets, experts: experts, weights: weights)
        plan.probabilities = gate.scoreTensor
        plan.preferredExpert = gate.firstChoice
        let balanceValue = balance.forward(counts: gate.counts, columnSums: gate.columnSums, tokenCount: n)
        var entropy: Double = 0
        for i in 0..<(n * e) where p[i] > 0 { entropy -= Double(p[i]) * Double(logf(p[i])) }
        let dynamic = n > 0 ? configuration.dynamicLossWeight * Float(entropy / Double(n)) : 0
        plan.auxiliaryLoss = balanceValue + dynamic
        plan.auxiliaryTerms = [("balance", balanceValue), ("dynamic", dynamic)]
    }

    /// Through the weights (the probabilities themselves), the balance loss and the entropy.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount, p = gate.scorePointer
        let base = balance.gradientPerExpert(tokenCount: n, experts: e, scale: auxiliaryLossScale)
        var dScores: [Float]?
        if configuration.dynamicLossWeight > 0 && n > 0 {
            // d(−p·log p)/dp = −(log p + 1), times β/n.
            let c = auxiliaryLossScale * configuration.dynamicLossWeight / Float(n)
            dScores = (0..<(n * e)).map { p[$0] > 0 ? -c * (logf(p[$0]) + 1) : 0 }
        }
        gate.backward(plan: plan, dWeights: dWeights, base: base, dScores: dScores, input: x, dInput: dInput)
    }
}
