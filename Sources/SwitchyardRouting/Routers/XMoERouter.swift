import Foundation
import SwitchyardTensorCore

/// `xmoe`: X-MoE's routing (Chi et al. 2022, "On the Representation Collapse of Sparse Mixture of
/// Experts", arXiv 2204.09179): score tokens against expert embeddings in a low-dimensional space
/// by cosine similarity with a learnable temperature.
///
/// Paper (`variant = paper`): q_t = W_p·x_t ∈ R^r (r = 16), z_te = cos(q_t, e_e)/τ with expert
/// embeddings e_e ∈ R^r and τ learned (initialised 0.07, kept ≥ 1e-4). torchscale
/// (`variant = torchscale`, microsoft/torchscale `torchscale/component/xmoe/routing.py`):
/// z_te = q_t·e_e/‖e_e‖, only the expert embeddings normalised, no temperature. Then, as Switch:
/// p = softmax(z), top-1 with combine weight p_te*, at most ⌈cf·n/E⌉ tokens per expert and group
/// (the rest dropped, in token order), balance loss α·E·Σ f_e·P_e. The expert embeddings start
/// orthogonal with gain 0.32 (torchscale's initialisation).
public final class XMoERouter: Router {
    /// X-MoE hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// r, the dimension tokens and experts are compared in.
        public var routingDimension = 16
        /// τ₀ of the learnable temperature (paper variant).
        public var initialTemperature: Float = 0.07
        /// `paper` or `torchscale`.
        public var variant = "paper"
        /// cf in training.
        public var trainingCapacityFactor = 1.25
        /// cf at evaluation.
        public var evaluationCapacityFactor = 2.0
        /// α of the balance loss.
        public var balanceLossWeight: Float = 1e-2

        /// The paper's choices.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "routingDimension": "r: tokens are projected to r dimensions and compared with r-dimensional expert embeddings",
            "initialTemperature": "τ₀ of the learnable temperature τ (paper variant; τ is kept ≥ 1e-4)",
            "variant": "paper (cosine of projection and embedding, divided by τ) or torchscale (projection · normalised embedding, no τ)",
            "trainingCapacityFactor": "cf in training: each expert takes at most ceil(cf·n/E) tokens",
            "evaluationCapacityFactor": "cf at evaluation",
            "balanceLossWeight": "α of the load-balancing loss α·E·Σ f_e·P_e (0 = off)",
        ]

        /// r in 1…1024, τ₀ > 0, variant paper or torchscale, capacity factors in (0, 10⁶], α ≥ 0.
        public func validate(expertCount: Int) throws {
            try requireRange(routingDimension >= 1 && routingDimension <= 1024, "xmoe", "routingDimension", routingDimension, "1 to 1024")
            try requireRange(initialTemperature >= 1e-4 && initialTemperature.isFinite && initialTemperature <= 100, "xmoe",
                             "initialTemperature", initialTemperature, "a number in [1e-4, 100]")
            try requireRange(["paper", "torchscale"].contains(variant), "xmoe", "variant", variant, "paper or torchscale")
            try ExpertCapacity.validate(trainingCapacityFactor, router: "xmoe", field: "trainingCapacityFactor")
            try ExpertCapacity.validate(evaluationCapacityFactor, router: "xmoe", field: "evaluationCapacityFactor")
            try requireRange(balanceLossWeight >= 0 && balanceLossWeight.isFinite, "xmoe", "balanceLossWeight", balanceLossWeight, "a finite number ≥ 0")
        }
    }

    /// "xmoe".
    public static let name = "xmoe"
    /// One sentence.
    public static let summary = "Top-1 by cosine similarity of a low-dimensional projection and expert embeddings, learnable temperature (Chi et al. 2022, X-MoE)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// W_p, [r, d].
    public let projection: RouterGate
    /// The expert embeddings, [E, r].
    public let embeddings: Parameter
    /// τ (paper variant), one value.
    public let temperature: Parameter
    /// W_p, the embeddings and (paper variant) τ.
    public var parameters: [Parameter] {
        configuration.variant == "paper" ? [projection.weight, embeddings, temperature] : [projection.weight, embeddings]
    }

    private var paper: Bool { configuration.variant == "paper" }
    private var balance: BalanceLoss
    private var builder = RoutingPlanBuilder()
    private let probabilities: PlanProbabilities
    private var queryNorms: [Float] = [], embeddingNorms: [Float] = []
    private var unitEmbeddings: [Float] = [], cosines: [Float] = []
    private var firstChoice: [Int32] = [], kept: [Bool] = [], chosen: [Int32] = [], weights: [Float] = []

    /// An X-MoE router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        let r = configuration.routingDimension
        projection = RouterGate(name: "projection.weight", width: modelWidth, experts: r, rng: &rng)
        embeddings = Parameter(name: "expertEmbeddings", shape: [expertCount, r], decays: false)
        BaseRouter.orthogonal(embeddings.value.pointer, rows: expertCount, columns: r, gain: 0.32, rng: &rng)
        temperature = Parameter(name: "temperature", shape: [1], decays: false)
        temperature.value.pointer[0] = configuration.initialTemperature
        balance = BalanceLoss(weight: configuration.balanceLossWeight)
        probabilities = PlanProbabilities(experts: expertCount)
    }

    private var tau: Float { max(temperature.value.pointer[0], 1e-4) }

    /// Cosine (or projected) scores, softmax, top-1 with capacity per group.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount, r = configuration.routingDimension
        let q = projection.forward(x, tokenCount: n, zeroingGradients: false)
        let w = embeddings.value.pointer
        embeddingNorms = (0..<e).map { j in max((0..<r).reduce(Float(0)) { $0 + w[j * r + $1] * w[j * r + $1] }.squareRoot(), 1e-12) }
        unitEmbeddings = (0..<(e * r)).map { w[$0] / embeddingNorms[$0 / r] }
        if queryNorms.count != n {
            queryNorms = [Float](repeating: 0, count: n)
            cosines = [Float](repeating: 0, count: n * e)
            firstChoice = [Int32](repeating: 0, count: n)
            kept = [Bool](repeating: false, count: n)
            chosen = [Int32](repeating: 0, count: n)
            weights = [Float](repeating: 0, count: n)
        }
        let p = probabilities.reserve(n)
        let scale: Float = paper ? 1 / tau : 1
        for t in 0..<n {
            let row = q + t * r
            var norm: Float = 0
            for i in 0..<r { norm += row[i] * row[i] }
            norm = paper ? max(norm.squareRoot(), 1e-12) : 1
            queryNorms[t] = norm
            var top: Float = -.infinity, best = 0
            for j in 0..<e {
                var dot: Float = 0
                for i in 0..<r { dot += row[i] * unitEmbeddings[j * r + i] }
                let c = dot / norm
                cosines[t * e + j] = c
                p[t * e + j] = c * scale
                if p[t * e + j] > top { top = p[t * e + j]; best = j }
            }
            var sum: Float = 0
            for j in 0..<e { p[t * e + j] = exp(p[t * e + j] - top); sum += p[t * e + j] }
            for j in 0..<e { p[t * e + j] /= sum }
            firstChoice[t] = Int32(best)
        }
        let factor = context.training ? configuration.trainingCapacityFactor : configuration.evaluationCapacityFactor
        let groups = context.groups(tokenCount: n)
        firstChoice.withUnsafeBufferPointer { choices in
            kept.withUnsafeMutableBufferPointer { keep in
                _ = ExpertCapacity.keep(choices: choices.baseAddress!, scores: { p[$0 * e + Int(choices[$0])] }, groups: groups,
                                        experts: e, policy: .tokenOrder,
                                        capacity: { ExpertCapacity.tokens(factor: factor, assignments: $0, experts: e) },
                                        kept: keep.baseAddress!)
            }
        }
        for t in 0..<n {
            chosen[t] = kept[t] ? firstChoice[t] : -1
            weights[t] = p[t * e + Int(firstChoice[t])]
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, k: 1, experts: chosen, weights: weights)
        plan.preferredExpert = firstChoice
        plan.probabilities = probabilities.tensor
        plan.capacity = groups.reduce(0) { $0 + ExpertCapacity.tokens(factor: factor, assignments: $1.count, experts: e) }
        let value = balance.forward(probabilities: p, firstChoice: firstChoice, tokenCount: n, experts: e)
        plan.auxiliaryLoss = value
        plan.auxiliaryTerms = [("balance", value)]
        if paper { plan.scalars = [("temperature", tau)] }
    }

    /// Through p (combine weight and balance loss) into z, the cosines, τ, the embeddings and W_p.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount, r = configuration.routingDimension
        let p = probabilities.pointer
        let q = projection.logits.pointer
        let dChoice = builder.choiceGradients(dWeights)
        let base = balance.gradientPerExpert(tokenCount: n, experts: e, scale: auxiliaryLossScale)
        let dq = projection.dLogits.pointer
        let scale: Float = paper ? 1 / tau : 1
        var dUnit = [Float](repeating: 0, count: e * r)
        var dTau: Float = 0
        var dz = [Float](repeating: 0, count: e), g = [Float](repeating: 0, count: e)
        for t in 0..<n {
            var dot: Float = 0
            for j in 0..<e {
                g[j] = base[j] + (chosen[t] == Int32(j) ? dChoice[t] : 0)
                dot += p[t * e + j] * g[j]
            }
            for j in 0..<e { dz[j] = p[t * e + j] * (g[j] - dot) }
            // z = scale·c; c = q̂·ê (paper, q̂ = q/‖q‖) or q·ê (torchscale).
            let row = q + t * r, dRow = dq + t * r, norm = queryNorms[t]
            for i in 0..<r { dRow[i] = 0 }
            for j in 0..<e {
                let dc = dz[j] * scale
                if paper { dTau -= dz[j] * cosines[t * e + j] * scale * scale }
                for i in 0..<r {
                    dRow[i] += dc * unitEmbeddings[j * r + i]
                    dUnit[j * r + i] += dc * row[i] / norm
                }
            }
            if paper {
                // Through q̂ = q/‖q‖: dq = (dq̂ − q̂(q̂·dq̂))/‖q‖.
                var proj: Float = 0
                for i in 0..<r { proj += row[i] / norm * dRow[i] }
                for i in 0..<r { dRow[i] = (dRow[i] - row[i] / norm * proj) / norm }
            }
        }
        // Through ê = e/‖e‖.
        let dW = embeddings.gradient.pointer
        for j in 0..<e {
            var proj: Float = 0
            for i in 0..<r { proj += unitEmbeddings[j * r + i] * dUnit[j * r + i] }
            for i in 0..<r { dW[j * r + i] += (dUnit[j * r + i] - unitEmbeddings[j * r + i] * proj) / embeddingNorms[j] }
        }
        if paper && temperature.value.pointer[0] >= 1e-4 { temperature.gradient.pointer[0] += dTau }
        projection.backward(x, tokenCount: n, dInput: dInput)
    }
}
