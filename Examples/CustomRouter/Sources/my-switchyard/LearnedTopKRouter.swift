import SwitchyardRouting
import SwitchyardTensorCore

/// `learned-top-k`: softmax gate, top-k experts per token, weights renormalised over the k
/// (Mixtral's convention), Switch's balance loss — written only with Switchyard's public router
/// toolkit (docs/custom-router.md walks through it).
final class LearnedTopKRouter: Router {
    struct Configuration: RouterConfiguration {
        var k = 2
        var balanceLossWeight: Float = 0.01
        static let optionHelp = ["k": "experts per token", "balanceLossWeight": "α of the balance loss (0 = off)"]
        func validate(expertCount: Int) throws {
            try RouterOption.check(k >= 1 && k <= expertCount, router: "learned-top-k", field: "k", value: k, allowed: "1 to E = \(expertCount)")
            try RouterOption.check(balanceLossWeight >= 0 && balanceLossWeight.isFinite, router: "learned-top-k",
                                   field: "balanceLossWeight", value: balanceLossWeight, allowed: "a finite number ≥ 0")
        }
    }
    static let name = "learned-top-k"
    static let summary = "Softmax gate, top-k, weights renormalised over the k, balance loss (Mixtral's convention)."
    let configuration: Configuration, expertCount: Int, gate: SoftmaxGate
    var parameters: [Parameter] { gate.parameters }
    var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }
    private var balance: BalanceLoss, builder = RoutingPlanBuilder()
    private var top: [Float] = [], chosen: [Int32] = [], weights: [Float] = []

    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        (self.configuration, self.expertCount) = (configuration, expertCount)
        gate = SoftmaxGate(width: modelWidth, experts: expertCount, rng: &rng)
        balance = BalanceLoss(weight: configuration.balanceLossWeight)
    }

    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext, rng: inout SeededRNG, plan: RoutingPlan) throws {
        let k = configuration.k, p = gate.forward(x, tokenCount: n, columnSums: true)
        TopKSelection.rows(p, rows: n, width: expertCount, k: k, values: &top, indices: &chosen)
        weights = top
        for t in 0..<n { let sum = top[t * k ..< t * k + k].reduce(0, +); for j in 0..<k { weights[t * k + j] /= sum } }
        plan.reset(tokenCount: n, expertCount: expertCount)
        builder.fill(plan, tokenCount: n, k: k, experts: chosen, weights: weights)
        plan.probabilities = gate.scoreTensor
        plan.auxiliaryLoss = balance.forward(counts: gate.counts, columnSums: gate.columnSums, tokenCount: n)
        plan.auxiliaryTerms = [("balance", plan.auxiliaryLoss)]
    }

    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, k = configuration.k, e = expertCount, dw = builder.choiceGradients(dWeights)
        var dScores = [Float](repeating: 0, count: n * e)   // w_j = p_j/Σp: dp_j = (dw_j − Σ_i dw_i·w_i)/Σp
        for t in 0..<n {
            let sum = (0..<k).reduce(Float(0)) { $0 + top[t * k + $1] }, dot = (0..<k).reduce(Float(0)) { $0 + dw[t * k + $1] * weights[t * k + $1] }
            for j in 0..<k { dScores[t * e + Int(chosen[t * k + j])] += (dw[t * k + j] - dot) / sum }
        }
        let base = balance.gradientPerExpert(tokenCount: n, experts: e, scale: auxiliaryLossScale)
        gate.backward(plan: nil, dWeights: nil, base: base, dScores: dScores, input: x, dInput: dInput)
    }
}
