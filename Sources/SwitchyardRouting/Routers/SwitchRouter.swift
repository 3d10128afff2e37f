import Foundation
import SwitchyardTensorCore

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

        /// Capacity factors in (0, 10⁶], weights ≥ 0, jitter in [0, 1).
        public func validate(expertCount: Int) throws {
            try ExpertCapacity.validate(trainingCapacityFactor, router: "switch", field: "trainingCapacityFactor")
            try ExpertCapacity.validate(evaluationCapacityFactor, router: "switch", field: "evaluationCapacityFactor")
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
    /// The gate: W, [E, d], and softmax scores.
    public let gate: SoftmaxGate
    /// W.
    public var parameters: [Parameter] { gate.parameters }

    private var kept: [Bool] = []
    private var balance: BalanceLoss
    private var jittered: Tensor = Tensor(shape: [0])
    private var jitterFactors: Tensor = Tensor(shape: [0])
    private var usedJitter = false

    /// A Switch router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = SoftmaxGate(width: modelWidth, experts: expertCount, rng: &rng)
        balance = BalanceLoss(weight: configuration.balanceLossWeight)
    }

    /// Top-1 with capacity, per routing group.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
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
        let wantZ = configuration.zLossWeight > 0
        let p = gate.forward(input, tokenCount: n, columnSums: configuration.balanceLossWeight != 0, logSumExp: wantZ)
        plan.preferredExpert = gate.firstChoice

        let factor = context.training ? configuration.trainingCapacityFactor : configuration.evaluationCapacityFactor
        let groups = context.groups(tokenCount: n)
        if kept.count < n { kept = [Bool](repeating: false, count: n) }
        let loads = gate.firstChoice.withUnsafeBufferPointer { choices in
            kept.withUnsafeMutableBufferPointer { keep in
                ExpertCapacity.keep(choices: choices.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                    scores: { p[$0 * e + Int(choices[$0])] }, groups: groups, experts: e,
                                    policy: configuration.batchPrioritized ? .byScore : .tokenOrder,
                                    capacity: { ExpertCapacity.tokens(factor: factor, assignments: $0, experts: e) },
                                    kept: keep.baseAddress!)
            }
        }
        loads.withUnsafeBufferPointer { loadBuffer in
            plan.setAssignments(loads: loadBuffer) { tokens, weights, offsets in
                gate.firstChoice.withUnsafeBufferPointer { choices in
                    kept.withUnsafeBufferPointer { keep in
                        var cursor = Array(UnsafeBufferPointer(start: offsets, count: e))
                        for t in 0..<n where keep[t] {
                            let c = Int(choices[t]), i = cursor[c]
                            tokens[i] = Int32(t)
                            weights[i] = p[t * e + c]
                            cursor[c] = i + 1
                        }
                    }
                }
            }
        }

        plan.probabilities = gate.scoreTensor
        plan.capacity = groups.reduce(0) { $0 + ExpertCapacity.tokens(factor: factor, assignments: $1.count, experts: e) }
        let balanceValue = balance.forward(counts: gate.counts, columnSums: gate.columnSums, tokenCount: n)
        let z = ZLoss.value(weight: configuration.zLossWeight, squaredLogSumExpSum: gate.squaredLogSumExpSum, tokenCount: n)
        plan.auxiliaryLoss = balanceValue + z
        plan.auxiliaryTerms = [("balance", balanceValue), ("z", z)]
    }

    /// Through the combine weights p_te*, the balance loss (via P) and the z-loss, row by row
    /// in one pass fused with the gate's backward (``SoftmaxGate/backward(plan:dWeights:base:dScores:zScale:input:dInput:)``).
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount, d = gate.width
        let base = balance.gradientPerExpert(tokenCount: n, experts: e, scale: auxiliaryLossScale)
        let zScale = ZLoss.gradientScale(weight: configuration.zLossWeight, tokenCount: n, scale: auxiliaryLossScale)
        // With jitter the gate saw x ⊙ m: dW uses the jittered input; dx = (dLogits·W) ⊙ m.
        let dJittered = usedJitter ? Tensor(shape: [n, d]) : nil
        let gateInput = usedJitter ? UnsafePointer(jittered.pointer) : x
        gate.backward(plan: plan, dWeights: dWeights, base: base, zScale: zScale, input: gateInput,
                      dInput: dJittered?.pointer ?? dInput)
        if let dJittered {
            for i in 0..<(n * d) { dInput[i] += dJittered.pointer[i] * jitterFactors.pointer[i] }
        }
    }
}
