import Foundation
import SwitchyardTensorCore

/// `base`: BASE layers (Lewis et al. 2021, "BASE Layers: Simplifying Training of Large, Sparse
/// Models", arXiv 2103.16716; fairseq `fairseq/modules/base_layer.py`).
///
/// Affinities a_te = x_t·w_e with expert centroids w_e (initialised orthogonal with gain 0.1). In
/// training each routing group is a balanced assignment maximising Σ_t a_{t,e(t)}: every expert
/// takes exactly ⌊m/E⌋ or ⌈m/E⌉ of the group's m tokens (``BalancedAssignment``, an auction;
/// nothing dropped, no auxiliary loss); at evaluation each token takes its greedy top-1 expert.
/// No gradient flows through the assignment: the combine weight α_t = sigmoid(a_{t,e(t)}) gives
/// BASE's output α·f_e(x) + (1 − α)·x, which with fairseq's residual expert sublayer
/// f_e(x) = x + FFN_e(LN(x)) is x + α·FFN_e(LN(x)) — this block's residual plus the MoE layer's
/// α-weighted expert. (The router reads LN(x), the block's router input; fairseq's reads x.)
public final class BaseRouter: Router {
    /// BASE hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// ε of the auction as a fraction of the affinities' range.
        public var auctionEpsilon = 0.02

        /// The paper's (fairseq's) defaults.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "auctionEpsilon": "ε of the auction, as a fraction of the affinities' range (fairseq: 1/50); the assignment is optimal to within n·ε",
        ]

        /// ε in (0, 1].
        public func validate(expertCount: Int) throws {
            try requireRange(auctionEpsilon > 0 && auctionEpsilon <= 1, "base", "auctionEpsilon", auctionEpsilon, "a number in (0, 1]")
        }
    }

    /// "base".
    public static let name = "base"
    /// One sentence.
    public static let summary = "Balanced assignment by auction in training (every expert ⌊n/E⌋ or ⌈n/E⌉ tokens), greedy top-1 at evaluation, sigmoid-gated output (Lewis et al. 2021)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// The expert centroids W, [E, d].
    public let gate: RouterGate
    /// W.
    public var parameters: [Parameter] { [gate.weight] }
    /// Top-1 per token; the load is balanced in training only, so traces (taken at evaluation) are not.
    public var traits: RouterTraits { RouterTraits() }

    private var assignment: BalancedAssignment
    private var builder = RoutingPlanBuilder()
    private var experts: [Int32] = [], alphas: [Float] = [], firstChoice: [Int32] = []

    /// A BASE router; the centroids are drawn orthogonal (gain 0.1) from `rng`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = RouterGate(name: "gate.weight", width: modelWidth, experts: expertCount, rng: &rng)
        Self.orthogonal(gate.weight.value.pointer, rows: expertCount, columns: modelWidth, gain: 0.1, rng: &rng)
        assignment = BalancedAssignment(epsilonFraction: configuration.auctionEpsilon)
    }

    /// Balanced assignment per group in training, greedy top-1 at evaluation; weight sigmoid(a).
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount
        let a = gate.forward(x, tokenCount: n)
        if experts.count != n {
            experts = [Int32](repeating: 0, count: n)
            alphas = [Float](repeating: 0, count: n)
            firstChoice = [Int32](repeating: 0, count: n)
        }
        var agree = 0
        for t in 0..<n {
            var best = 0
            for j in 1..<max(e, 1) where a[t * e + j] > a[t * e + best] { best = j }
            firstChoice[t] = Int32(best)
        }
        let groups = context.groups(tokenCount: n)
        var bids = 0
        if context.training {
            for g in groups {
                try experts.withUnsafeMutableBufferPointer { out in
                    do {
                        try assignment.assign(a + g.lowerBound * e, tokens: g.count, experts: e, into: out.baseAddress! + g.lowerBound)
                    } catch let error as BalancedAssignmentError {
                        throw RoutingError(router: Self.name, message: error.message)
                    }
                }
                bids += assignment.bids
            }
        } else {
            for t in 0..<n { experts[t] = firstChoice[t] }
        }
        for t in 0..<n {
            let z = a[t * e + Int(experts[t])]
            alphas[t] = 1 / (1 + Float(exp(Double(-z))))
            if experts[t] == firstChoice[t] { agree += 1 }
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, k: 1, experts: experts, weights: alphas)
        plan.preferredExpert = firstChoice
        if context.training {
            plan.capacity = groups.reduce(0) { $0 + ($1.count + e - 1) / e }
            plan.scalars = [("firstChoiceShare", Float(agree) / Float(max(n, 1))),
                            ("auctionBidsPerToken", Float(bids) / Float(max(n, 1)))]
        }
    }

    /// Through α = sigmoid(a_{t,e(t)}) only: dL/da_{t,e(t)} = dL/dα·α(1 − α).
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount
        let dAlpha = builder.choiceGradients(dWeights)
        let dLogits = gate.dLogits.pointer
        for t in 0..<n {
            let alpha = alphas[t]
            dLogits[t * e + Int(experts[t])] = dAlpha[t] * alpha * (1 - alpha)
        }
        gate.backward(x, tokenCount: n, dInput: dInput)
    }

    /// torch.nn.init.orthogonal_: orthonormal rows (rows ≤ columns) or columns, times `gain`.
    static func orthogonal(_ w: UnsafeMutablePointer<Float>, rows: Int, columns: Int, gain: Float, rng: inout SeededRNG) {
        let vectors = min(rows, columns), length = max(rows, columns)
        var m = [Double](repeating: 0, count: vectors * length)
        for i in m.indices { m[i] = Double(rng.nextGaussian()) }
        for i in 0..<vectors {
            for j in 0..<i {
                var dot = 0.0
                for k in 0..<length { dot += m[i * length + k] * m[j * length + k] }
                for k in 0..<length { m[i * length + k] -= dot * m[j * length + k] }
            }
            var norm = 0.0
            for k in 0..<length { norm += m[i * length + k] * m[i * length + k] }
            norm = max(norm.squareRoot(), 1e-12)
            for k in 0..<length { m[i * length + k] /= norm }
        }
        for r in 0..<rows {
            for c in 0..<columns {
                let v = rows <= columns ? m[r * length + c] : m[c * length + r]
                w[r * columns + c] = gain * Float(v)
            }
        }
    }
}
