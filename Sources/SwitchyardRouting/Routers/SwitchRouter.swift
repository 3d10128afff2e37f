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
    private let rowPass = RouterRowPass()
    private var kept: [Bool] = []
    private var loads: [Int] = []
    private var expertOfAssignment: [Int32] = []
    private var balance: BalanceLoss
    private var jittered: Tensor = Tensor(shape: [0])
    private var jitterFactors: Tensor = Tensor(shape: [0])
    private var usedJitter = false

    /// A Switch router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = RouterGate(name: "gate.weight", width: modelWidth, experts: expertCount, rng: &rng)
        probabilities = PlanProbabilities(experts: expertCount)
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
        // The gate's product block by block inside the row pass, while the block is in cache.
        gate.reserve(n)
        let logits = gate.logits.pointer
        let gateInput = input
        let p = probabilities.reserve(n)
        plan.preferredExpert.append(contentsOf: repeatElement(0, count: n))
        let wantZ = configuration.zLossWeight > 0
        plan.preferredExpert.withUnsafeMutableBufferPointer { choices in
            rowPass.run(logits: logits, probabilities: p, choices: choices.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!,
                        rows: n, experts: e, columnSums: configuration.balanceLossWeight != 0, squaredLogSumExp: wantZ,
                        computeLogits: { self.gate.forwardRows(gateInput, rows: $0) })
        }

        let factor = context.training ? configuration.trainingCapacityFactor : configuration.evaluationCapacityFactor
        let capacity = expertCapacity(factor: factor, assignments: n, experts: e)
        if kept.count < n { kept = [Bool](repeating: false, count: n) }
        loads = [Int](repeating: 0, count: e)
        plan.preferredExpert.withUnsafeBufferPointer { choicesBuffer in
            guard let choices = choicesBuffer.baseAddress else { return }
            // Tokens claim their expert's buffer in order: by position, or (batch-prioritized
            // routing) by decreasing router probability.
            let order: [Int]? = configuration.batchPrioritized
                ? Array(0..<n).sorted { a, b in
                    let pa = p[a * e + Int(choices[a])], pb = p[b * e + Int(choices[b])]
                    return pa > pb || (pa == pb && a < b)
                }
                : nil
            kept.withUnsafeMutableBufferPointer { keep in
                for q in 0..<n {
                    let t = order?[q] ?? q, c = Int(choices[t])
                    keep[t] = loads[c] < capacity
                    if keep[t] { loads[c] += 1 }
                }
            }
        }
        loads.withUnsafeBufferPointer { loadBuffer in
            plan.setAssignments(loads: loadBuffer) { tokens, weights, offsets in
                plan.preferredExpert.withUnsafeBufferPointer { choices in
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

        plan.probabilities = probabilities.tensor
        plan.capacity = capacity
        let balanceValue = balance.forward(counts: rowPass.counts, columnSums: rowPass.columnSums, tokenCount: n)
        var z: Float = 0
        if wantZ && n > 0 {
            z = configuration.zLossWeight * rowPass.squaredLogSumExpSum / Float(n)
        }
        plan.auxiliaryLoss = balanceValue + z
        plan.auxiliaryTerms = [("balance", balanceValue), ("z", z)]
    }

    /// Through the combine weights p_te*, the balance loss (via P) and the z-loss, row by row
    /// in one pass fused with the gate's backward (``routerBackward(plan:dWeights:expertOf:probabilities:base:logSumExp:zScale:gate:input:dInput:)``).
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount, d = gate.width
        let p = probabilities.pointer
        let base = balance.gradientPerExpert(tokenCount: n, experts: e, scale: auxiliaryLossScale)
        fillExpertOfAssignment(plan, into: &expertOfAssignment)
        let useZ = configuration.zLossWeight > 0 && n > 0
        let zScale = useZ ? 2 * configuration.zLossWeight * auxiliaryLossScale / Float(n) : 0
        // With jitter the gate saw x ⊙ m: dW uses the jittered input; dx = (dLogits·W) ⊙ m.
        let dJittered = usedJitter ? Tensor(shape: [n, d]) : nil
        let gateInput = usedJitter ? UnsafePointer(jittered.pointer) : x
        base.withUnsafeBufferPointer { baseBuffer in
            expertOfAssignment.withUnsafeBufferPointer { expertOf in
                rowPass.withLogSumExp { lse in
                    routerBackward(plan: plan, dWeights: dWeights, expertOf: expertOf.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                   probabilities: p, base: baseBuffer.baseAddress, logSumExp: useZ ? lse : nil,
                                   zScale: zScale, gate: gate, input: gateInput, dInput: dJittered?.pointer ?? dInput)
                }
            }
        }
        if let dJittered {
            for i in 0..<(n * d) { dInput[i] += dJittered.pointer[i] * jitterFactors.pointer[i] }
        }
    }
}
