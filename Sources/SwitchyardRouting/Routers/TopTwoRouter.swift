import Foundation
import SwitchyardTensorCore

/// `top-2`: GShard's top-2 gating (Lepikhin et al. 2020, Algorithm 1).
///
/// p = softmax(x·Wᵀ); first expert e₁ = argmax p, second e₂ = argmax of the rest; gates
/// g₁ = p₁/(p₁+p₂), g₂ = p₂/(p₁+p₂). The second expert is kept with probability min(1, 2·g₂)
/// (`random`, GShard's policy), always (`all`), or when g₂ > threshold (`threshold`). Each expert
/// takes at most C = ⌈cf·2n/E⌉ assignments (cf = 1.25 in training, 2.0 at evaluation; GShard's
/// 2N/E at cf = 1), first choices filling the buffers before second choices, each in token order.
/// Combine weights are g₁ and g₂ (a dropped choice contributes 0; with `normalizeOverKept` the
/// kept weights are renormalised to sum to 1). Auxiliary loss: α·E·Σ_e f_e·P_e with f from the
/// first choices.
public final class TopTwoRouter: Router {
    /// The second-expert policies.
    public enum SecondPolicy: String, Codable, Sendable {
        /// Keep with probability min(1, 2·g₂).
        case random
        /// Always keep.
        case all
        /// Keep when g₂ > threshold.
        case threshold
    }

    /// Top-2 hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// The second-expert policy in training.
        public var secondPolicy = SecondPolicy.random
        /// The second-expert policy at evaluation (mesh-tensorflow's default is `random` too).
        public var evaluationSecondPolicy = SecondPolicy.random
        /// g₂ threshold of the `threshold` policy.
        public var threshold: Float = 0.2
        /// cf in training: C = ⌈cf·2n/E⌉.
        public var trainingCapacityFactor = 1.25
        /// cf at evaluation.
        public var evaluationCapacityFactor = 2.0
        /// α of the balance loss (0 = off).
        public var balanceLossWeight: Float = 1e-2
        /// Renormalise the kept experts' weights to sum to 1.
        public var normalizeOverKept = false

        /// GShard's defaults.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "secondPolicy": "random (keep with prob. min(1, 2·g₂)), all, or threshold",
            "evaluationSecondPolicy": "the policy at evaluation",
            "threshold": "g₂ threshold of the threshold policy",
            "trainingCapacityFactor": "cf in training: each expert takes at most ceil(cf·2n/E) assignments",
            "evaluationCapacityFactor": "cf at evaluation",
            "balanceLossWeight": "α of the load-balancing loss α·E·Σ f_e·P_e (0 = off)",
            "normalizeOverKept": "renormalise combine weights over the kept experts",
        ]

        /// Ranges.
        public func validate(expertCount: Int) throws {
            try requireRange(expertCount >= 2, "top-2", "experts", expertCount, "at least 2 experts")
            try requireRange(threshold >= 0 && threshold <= 1, "top-2", "threshold", threshold, "a number in [0, 1]")
            try ExpertCapacity.validate(trainingCapacityFactor, router: "top-2", field: "trainingCapacityFactor")
            try ExpertCapacity.validate(evaluationCapacityFactor, router: "top-2", field: "evaluationCapacityFactor")
            try requireRange(balanceLossWeight >= 0 && balanceLossWeight.isFinite, "top-2", "balanceLossWeight", balanceLossWeight, "a finite number ≥ 0")
        }
    }

    /// "top-2".
    public static let name = "top-2"
    /// One sentence.
    public static let summary = "GShard top-2: second expert kept at random with prob. min(1, 2·g₂), capacity, balance loss (Lepikhin et al. 2020)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// The gate W, [E, d].
    public let gate: RouterGate
    /// W.
    public var parameters: [Parameter] { [gate.weight] }

    private let probabilities: PlanProbabilities
    private var first: [Int32] = []
    private var second: [Int32] = []
    private var keptFirst: [Bool] = []
    private var keptSecond: [Bool] = []
    private var balance: BalanceLoss
    private var builder = RoutingPlanBuilder()
    private var choices: [Int32] = []
    private var choiceWeights: [Float] = []

    /// Two experts per token before capacity; with the random or threshold policy, one or two.
    public var traits: RouterTraits {
        RouterTraits(k: 2, expertsPerTokenVary: configuration.secondPolicy != .all || configuration.evaluationSecondPolicy != .all)
    }

    /// k = 2 only: every second choice kept (`secondPolicy=all`).
    public static func options(expertsPerToken k: Int, experts: Int) -> [String: String]? {
        k == 2 ? ["secondPolicy": "all", "evaluationSecondPolicy": "all"] : nil
    }

    /// A top-2 router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = RouterGate(name: "gate.weight", width: modelWidth, experts: expertCount, rng: &rng)
        probabilities = PlanProbabilities(experts: expertCount)
        balance = BalanceLoss(weight: configuration.balanceLossWeight)
    }

    /// The combine weight of a token's first or second expert given what was kept.
    private func weight(_ p1: Float, _ p2: Float, isFirst: Bool, keptFirst k1: Bool, keptSecond k2: Bool) -> Float {
        if configuration.normalizeOverKept && !(k1 && k2) { return 1 }
        return (isFirst ? p1 : p2) / (p1 + p2)
    }

    /// Top-2 with the second-expert policy and capacity.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount
        plan.reset(tokenCount: n, expertCount: e)
        let logits = gate.forward(x, tokenCount: n)
        let p = probabilities.reserve(n)
        softmaxRows(logits, into: p, rows: n, width: e)
        first = [Int32](repeating: 0, count: n)
        second = [Int32](repeating: 0, count: n)
        var values = [Float](repeating: 0, count: 2 * n), indices = [Int32](repeating: 0, count: 2 * n)
        topKRows(p, rows: n, width: e, k: 2, values: &values, indices: &indices)
        let policy = context.training ? configuration.secondPolicy : configuration.evaluationSecondPolicy
        var wantSecond = [Bool](repeating: false, count: n)
        for t in 0..<n {
            first[t] = indices[2 * t]
            second[t] = indices[2 * t + 1]
            let g2 = values[2 * t + 1] / (values[2 * t] + values[2 * t + 1])
            switch policy {
            case .all: wantSecond[t] = true
            case .threshold: wantSecond[t] = g2 > configuration.threshold
            case .random: wantSecond[t] = rng.nextFloat() < min(1, 2 * g2)
            }
        }
        let factor = context.training ? configuration.trainingCapacityFactor : configuration.evaluationCapacityFactor
        let groups = context.groups(tokenCount: n)
        keptFirst = [Bool](repeating: false, count: n)
        keptSecond = [Bool](repeating: false, count: n)
        var loads = [Int](repeating: 0, count: e)
        // Within each routing group, first choices fill the buffers before second choices.
        for group in groups {
            let capacity = ExpertCapacity.tokens(factor: factor, assignments: 2 * group.count, experts: e)
            for j in 0..<e { loads[j] = 0 }
            for t in group where loads[Int(first[t])] < capacity {
                loads[Int(first[t])] += 1
                keptFirst[t] = true
            }
            for t in group where wantSecond[t] && loads[Int(second[t])] < capacity {
                loads[Int(second[t])] += 1
                keptSecond[t] = true
            }
        }
        choices = [Int32](repeating: -1, count: 2 * n)
        choiceWeights = [Float](repeating: 0, count: 2 * n)
        for t in 0..<n {
            let p1 = p[t * e + Int(first[t])], p2 = p[t * e + Int(second[t])]
            if keptFirst[t] {
                choices[2 * t] = first[t]
                choiceWeights[2 * t] = weight(p1, p2, isFirst: true, keptFirst: true, keptSecond: keptSecond[t])
            }
            if keptSecond[t] {
                choices[2 * t + 1] = second[t]
                choiceWeights[2 * t + 1] = weight(p1, p2, isFirst: false, keptFirst: keptFirst[t], keptSecond: true)
            }
        }
        builder.fill(plan, tokenCount: n, k: 2, experts: choices, weights: choiceWeights)
        let capacity = groups.reduce(0) { $0 + ExpertCapacity.tokens(factor: factor, assignments: 2 * $1.count, experts: e) }
        plan.probabilities = probabilities.tensor
        plan.preferredExpert = first
        plan.capacity = capacity
        let balanceValue = balance.forward(probabilities: p, firstChoice: first, tokenCount: n, experts: e)
        plan.auxiliaryLoss = balanceValue
        plan.auxiliaryTerms = [("balance", balanceValue)]
    }

    /// Through g₁ = p₁/(p₁+p₂), g₂ = p₂/(p₁+p₂) and the balance loss.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount
        let p = probabilities.pointer, dp = gate.dLogits.pointer
        for expert in 0..<e {
            for i in plan.range(ofExpert: expert) {
                let t = Int(plan.tokens[i])
                if configuration.normalizeOverKept && !(keptFirst[t] && keptSecond[t]) { continue }
                let i1 = t * e + Int(first[t]), i2 = t * e + Int(second[t])
                let p1 = p[i1], p2 = p[i2], s2 = (p1 + p2) * (p1 + p2)
                let g = dWeights[i]
                if expert == Int(first[t]) {          // w = p1/(p1+p2)
                    dp[i1] += g * p2 / s2
                    dp[i2] -= g * p1 / s2
                } else {                              // w = p2/(p1+p2)
                    dp[i2] += g * p1 / s2
                    dp[i1] -= g * p2 / s2
                }
            }
        }
        balance.backward(tokenCount: n, experts: e, scale: auxiliaryLossScale, dProbabilities: dp)
        softmaxRowsBackward(output: p, dOutput: dp, dInput: dp, rows: n, width: e)
        gate.backward(x, tokenCount: n, dInput: dInput)
    }
}
