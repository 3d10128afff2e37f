import Foundation
import TensorCore

/// `switch`: top-1 routing of Switch Transformers (Fedus et al. 2021) with the router z-loss of
/// ST-MoE (Zoph et al. 2022).
///
/// p = softmax(x·Wᵀ); token t goes to e* = argmax p_t with combine weight p_te*; each expert
/// takes at most C = ⌈cf·n/E⌉ tokens (cf = 1.25 in training, 2.0 at evaluation) and the tokens
/// past it are dropped — in token order, or with batch-prioritised routing in order of
/// decreasing p_te*. Auxiliary loss: α·E·Σ_e f_e·P_e (f_e from the first choices before
/// dropping, P_e the mean probability; per layer) + c_z·mean_t(logsumexp_t)². Optional jitter
/// multiplies the router's input by U(1−ε, 1+ε) in training.
public final class SwitchRouter: Router {
    /// Switch hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// cf in training.
        public var trainingCapacityFactor = 1.25
        /// cf at evaluation.
        public var evaluationCapacityFactor = 2.0
        /// α, the balance-loss weight (0 = off).
        public var balanceLossWeight: Float = 1e-2
        /// c_z, the router z-loss weight (0 = off).
        public var zLossWeight: Float = 1e-3
        /// Fill expert buffers in order of decreasing router probability instead of token order.
        public var batchPrioritized = false
        /// ε of the multiplicative input jitter in training (0 = off).
        public var jitter: Float = 0

        /// The paper's defaults.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "trainingCapacityFactor": "cf in training: each expert takes at most ceil(cf·n/E) tokens",
            "evaluationCapacityFactor": "cf at evaluation",
            "balanceLossWeight": "α of the load-balancing loss α·E·Σ f_e·P_e (0 = off)",
            "zLossWeight": "c_z of the router z-loss c_z·mean(logsumexp²) (0 = off)",
            "batchPrioritized": "drop the least confident tokens first instead of the last ones",
            "jitter": "multiply router inputs by U(1−ε, 1+ε) in training (0 = off)",
        ]

        /// Capacity factors > 0, weights ≥ 0, jitter in [0, 1).
        public func validate(expertCount: Int) throws {
            try requireRange(trainingCapacityFactor > 0 && trainingCapacityFactor.isFinite, "switch", "trainingCapacityFactor", trainingCapacityFactor, "a finite number > 0")
            try requireRange(evaluationCapacityFactor > 0 && evaluationCapacityFactor.isFinite, "switch", "evaluationCapacityFactor", evaluationCapacityFactor, "a finite number > 0")
            try requireRange(balanceLossWeight >= 0 && balanceLossWeight.isFinite, "switch", "balanceLossWeight", balanceLossWeight, "a finite number ≥ 0")
            try requireRange(zLossWeight >= 0 && zLossWeight.isFinite, "switch", "zLossWeight", zLossWeight, "a finite number ≥ 0")
            try requireRange(jitter >= 0 && jitter < 1, "switch", "jitter", jitter, "a number in [0, 1)")
        }
    }

    /// "switch".
    public static let name = "switch"
    /// One sentence.
    public static let summary = "Top-1 with expert capacity, overflow dropped, balance loss and z-loss (Fedus et al. 2021; Zoph et al. 2022)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// The gate W, [E, d].
    public let gate: RouterGate
    /// W.
    public var parameters: [Parameter] { [gate.weight] }

    private let probabilities: PlanProbabilities
    private var firstChoice: [Int32] = []
    private var logSumExp: [Float] = []
    private var balance: BalanceLoss
    private var jittered: Tensor = Tensor(shape: [0])
    private var jitterFactors: Tensor = Tensor(shape: [0])
    private var usedJitter = false
    private var lists: ExpertLists

    /// A Switch router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = RouterGate(name: "gate.weight", width: modelWidth, experts: expertCount, rng: &rng)
        probabilities = PlanProbabilities(experts: expertCount)
        lists = ExpertLists(experts: expertCount)
        balance = BalanceLoss(weight: configuration.balanceLossWeight)
    }

    /// Top-1 with capacity.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) {
        let e = expertCount, d = gate.width
        plan.reset(tokenCount: n, expertCount: e)
        var input = x
        usedJitter = context.training && configuration.jitter > 0
        if usedJitter {
            if jittered.count < n * d {
                jittered = Tensor(shape: [n * d])
                jitterFactors = Tensor(shape: [n * d])
            }
            let eps = configuration.jitter
            rng.fillUniform(jitterFactors.pointer, count: n * d, low: 1 - eps, high: 1 + eps)
            multiply(x, jitterFactors.pointer, into: jittered.pointer, count: n * d)
            input = UnsafePointer(jittered.pointer)
        }
        let logits = gate.forward(input, tokenCount: n)
        let p = probabilities.reserve(n)
        softmaxRows(logits, into: p, rows: n, width: e)
        firstChoice = [Int32](repeating: 0, count: n)
        logSumExp = [Float](repeating: 0, count: n)
        argmaxRows(p, rows: n, width: e, into: &firstChoice)
        logSumExpRows(logits, rows: n, width: e, into: &logSumExp)

        let factor = context.training ? configuration.trainingCapacityFactor : configuration.evaluationCapacityFactor
        let capacity = expertCapacity(factor: factor, assignments: n, experts: e)
        var order = Array(0..<n)
        if configuration.batchPrioritized {
            order.sort { a, b in
                let pa = p[a * e + Int(firstChoice[a])], pb = p[b * e + Int(firstChoice[b])]
                return pa > pb || (pa == pb && a < b)
            }
        }
        lists.clear()
        for t in order {
            let choice = Int(firstChoice[t])
            if lists.count(choice) < capacity { lists.add(token: t, to: choice) }
        }
        lists.emit(into: plan) { t, expert in p[t * e + expert] }

        plan.probabilities = probabilities.tensor
        plan.preferredExpert = firstChoice
        plan.capacity = capacity
        let balanceValue = balance.forward(probabilities: p, firstChoice: firstChoice, tokenCount: n, experts: e)
        var z: Float = 0
        if configuration.zLossWeight > 0 && n > 0 {
            for t in 0..<n { z += logSumExp[t] * logSumExp[t] }
            z = configuration.zLossWeight * z / Float(n)
        }
        plan.auxiliaryLoss = balanceValue + z
        plan.auxiliaryTerms = [("balance", balanceValue), ("z", z)]
    }

    /// Through the combine weights p_te*, the balance loss (via P) and the z-loss.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount, d = gate.width
        let p = probabilities.pointer, dLogits = gate.dLogits.pointer
        // dL/dp into dLogits, then the softmax backward in place.
        for expert in 0..<e {
            for i in plan.range(ofExpert: expert) {
                dLogits[Int(plan.tokens[i]) * e + expert] += dWeights[i]
            }
        }
        balance.backward(tokenCount: n, experts: e, scale: auxiliaryLossScale, dProbabilities: dLogits)
        softmaxRowsBackward(output: p, dOutput: dLogits, dInput: dLogits, rows: n, width: e)
        if configuration.zLossWeight > 0 && n > 0 {
            // ∂(c_z·mean lse²)/∂logit_te = 2·c_z·lse_t·p_te / n.
            let c = 2 * configuration.zLossWeight * auxiliaryLossScale / Float(n)
            for t in 0..<n {
                let g = c * logSumExp[t]
                for j in 0..<e { dLogits[t * e + j] += g * p[t * e + j] }
            }
        }
        if usedJitter {
            // The gate saw x ⊙ m: dW uses the jittered input; dx = (dLogits·W) ⊙ m.
            let dJittered = Tensor(shape: [n, d])
            gate.backward(UnsafePointer(jittered.pointer), tokenCount: n, dInput: dJittered.pointer)
            for i in 0..<(n * d) { dInput[i] += dJittered.pointer[i] * jitterFactors.pointer[i] }
        } else {
            gate.backward(x, tokenCount: n, dInput: dInput)
        }
    }
}
