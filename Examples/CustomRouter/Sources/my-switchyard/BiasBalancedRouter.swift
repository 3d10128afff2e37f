import SwitchyardRouting
import SwitchyardTensorCore

/// `bias-balanced`: auxiliary-loss-free balancing (Wang et al. 2024, arXiv 2408.15664), a
/// stateful router written against the public API. Scores s = sigmoid(x·Wᵀ); each token takes the
/// top k experts of s + b, where b is a per-expert bias; its combine weights are the *unbiased*
/// scores of those experts, renormalised over the k. After every training step the bias moves
/// toward balance: b_e += u·sign(mean load − load_e) (u = 1e-3), from the step's loads. b is
/// router state: checkpointed, restored by --resume, never trained, and evaluation never moves it.
final class BiasBalancedRouter: Router {
    struct Configuration: RouterConfiguration {
        var k = 1
        /// u, the bias update rate.
        var updateRate: Float = 1e-3
        static let optionHelp = ["k": "experts per token", "updateRate": "u of b_e += u·sign(mean load − load_e)"]

        func validate(expertCount: Int) throws {
            try RouterOption.check(k >= 1 && k <= expertCount, router: "bias-balanced", field: "k", value: k,
                                   allowed: "1 to E = \(expertCount)")
            try RouterOption.check(updateRate >= 0 && updateRate.isFinite, router: "bias-balanced", field: "updateRate",
                                   value: updateRate, allowed: "a finite number ≥ 0")
        }
    }

    static let name = "bias-balanced"
    static let summary = "Sigmoid gate, top-k of score + bias, bias nudged toward balance after each step (Wang et al. 2024)."

    let configuration: Configuration
    let expertCount: Int
    let gate: SoftmaxGate
    /// b, one value per expert.
    let bias: RouterState
    var parameters: [Parameter] { gate.parameters }
    var state: [RouterState] { [bias] }
    var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }
    private var builder = RoutingPlanBuilder()
    private var chosen: [Int32] = [], weights: [Float] = [], biased: [Float] = [], top: [Float] = []

    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = SoftmaxGate(width: modelWidth, experts: expertCount, score: .sigmoid, rng: &rng)
        bias = RouterState(name: "bias", count: expertCount)
    }

    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
               rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount, k = configuration.k
        let s = gate.forward(x, tokenCount: n)
        biased = (0..<(n * e)).map { s[$0] + bias[$0 % e] }
        TopKSelection.rows(biased, rows: n, width: e, k: k, values: &top, indices: &chosen)
        weights = [Float](repeating: 0, count: n * k)
        for t in 0..<n {
            let sum = (0..<k).reduce(Float(0)) { $0 + s[t * e + Int(chosen[t * k + $1])] }
            for j in 0..<k { weights[t * k + j] = s[t * e + Int(chosen[t * k + j])] / sum }
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, k: k, experts: chosen, weights: weights)
        plan.preferredExpert = (0..<n).map { chosen[$0 * k] }
    }

    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        // w_j = s_j/Σ_i s_i over the chosen: ds_j = (dw_j − Σ_i dw_i·w_i)/Σ_i s_i. The bias only selects.
        let n = plan.tokenCount, k = configuration.k, e = expertCount, s = gate.scorePointer
        let dw = builder.choiceGradients(dWeights)
        var dScores = [Float](repeating: 0, count: n * e)
        for t in 0..<n {
            let sum = (0..<k).reduce(Float(0)) { $0 + s[t * e + Int(chosen[t * k + $1])] }
            let dot = (0..<k).reduce(Float(0)) { $0 + dw[t * k + $1] * weights[t * k + $1] }
            for j in 0..<k { dScores[t * e + Int(chosen[t * k + j])] += (dw[t * k + j] - dot) / sum }
        }
        gate.backward(plan: nil, dWeights: nil, base: nil, dScores: dScores, input: x, dInput: dInput)
    }

    /// b_e += u·sign(mean load − load_e), from this layer's loads of the step.
    func afterStep(_ facts: RoutingStepFacts) {
        let loads = facts.layer.tokensPerExpert
        let mean = Float(loads.reduce(0, +)) / Float(max(loads.count, 1))
        for e in 0..<expertCount {
            let gap = mean - Float(loads[e])
            bias[e] += configuration.updateRate * (gap > 0 ? 1 : gap < 0 ? -1 : 0)
        }
    }
}
