import Foundation
import SwitchyardTensorCore

/// `sinkhorn`: S-BASE (Clark et al. 2022, "Unified Scaling Laws for Routed Language Models",
/// arXiv 2202.01169; reference: NVIDIA/Megatron-LM `moe_utils.py` `sinkhorn` and `router.py`
/// `sinkhorn_load_balancing`).
///
/// In training the logits z (n × E) are balanced by Sinkhorn's algorithm: P = diag(d₀)·exp(z)·diag(d₁)
/// with every row summing to 1/n and every column to 1/E, and each token takes the top k of P (no
/// gradient through the assignment). Its combine weights are act(z) at those experts: sigmoid(z)
/// when k = 1, softmax over all E experts when k > 1, not renormalised (Megatron's). At evaluation
/// the router takes the plain top k of act(z), by design. No auxiliary loss, no capacity.
///
/// Unlike Megatron's loop (which runs until mean|d₁ − d₁_prev| ≤ tol with no cap, and exits with
/// NaN when exp overflows) the iteration here runs in the log domain in double precision, so
/// logits of ±10⁴ neither overflow nor give NaN, stops at `tolerance` on the same criterion or after
/// `maxIterations`, and reports its iterations and whether it converged per step
/// (`routerScalars`: `sinkhorn.iterations`, `sinkhorn.converged`); a non-finite logit is a
/// ``RoutingError``, never passed on.
public final class SinkhornRouter: Router {
    /// Sinkhorn hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// Experts per token.
        public var k = 1
        /// Stop when mean_e |d₁ − d₁_prev| ≤ tolerance (Megatron: 1e-4).
        public var tolerance = 1e-4
        /// At most this many iterations.
        public var maxIterations = 100

        /// Megatron's tolerance, k = 1.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "k": "experts per token",
            "tolerance": "stop when the mean change of the column scaling is at most this",
            "maxIterations": "Sinkhorn iterations at most (then reported as not converged)",
        ]

        /// k in 1…E, tolerance > 0, iterations 1…10,000.
        public func validate(expertCount: Int) throws {
            try requireRange(k >= 1 && k <= expertCount, "sinkhorn", "k", k, "1 to E = \(expertCount)")
            try requireRange(tolerance > 0 && tolerance.isFinite, "sinkhorn", "tolerance", tolerance, "a finite number > 0")
            try requireRange(maxIterations >= 1 && maxIterations <= 10_000, "sinkhorn", "maxIterations", maxIterations, "1 to 10000")
        }
    }

    /// "sinkhorn".
    public static let name = "sinkhorn"
    /// One sentence.
    public static let summary = "Top-k of the Sinkhorn-balanced logits in training, plain top-k at evaluation (Clark et al. 2022, S-BASE)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// W with sigmoid (k = 1) or softmax (k > 1) scores.
    public let gate: SoftmaxGate
    /// W.
    public var parameters: [Parameter] { gate.parameters }
    /// k experts per token.
    public var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }

    private var builder = RoutingPlanBuilder()
    private var selection: [Float] = [], top: [Float] = [], chosen: [Int32] = [], weights: [Float] = []
    private let distribution: PlanProbabilities

    /// A Sinkhorn router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = SoftmaxGate(width: modelWidth, experts: expertCount, score: configuration.k == 1 ? .sigmoid : .softmax, rng: &rng)
        distribution = PlanProbabilities(experts: expertCount)
    }

    /// The result of balancing: log d₀ (n), log d₁ (E), the iterations run and whether the
    /// tolerance was met.
    public struct Balance: Sendable {
        /// log d₀ per row.
        public var logRowScale: [Double]
        /// log d₁ per column.
        public var logColumnScale: [Double]
        /// Iterations run.
        public var iterations: Int
        /// Whether mean|d₁ − d₁_prev| ≤ tolerance was reached.
        public var converged: Bool
    }

    /// Sinkhorn's algorithm on `logits` (n × E) in the log domain: log d₀_t = log(1/n) −
    /// logsumexp_e(z_te + log d₁_e), log d₁_e = log(1/E) − logsumexp_t(z_te + log d₀_t), from d₁ = 1.
    public static func balance(logits z: UnsafePointer<Float>, rows n: Int, columns e: Int,
                               tolerance: Double, maxIterations: Int) -> Balance {
        var u = [Double](repeating: 0, count: n), v = [Double](repeating: 0, count: e)
        let logRow = -log(Double(max(n, 1))), logColumn = -log(Double(max(e, 1)))
        var column = [Double](repeating: 0, count: e)
        var iterations = 0, converged = false
        while iterations < maxIterations && n > 0 {
            iterations += 1
            for t in 0..<n {
                var m = -Double.infinity
                for j in 0..<e { m = max(m, Double(z[t * e + j]) + v[j]) }
                var sum = 0.0
                for j in 0..<e { sum += exp(Double(z[t * e + j]) + v[j] - m) }
                u[t] = logRow - (m + log(sum))
            }
            var change = 0.0
            for j in 0..<e {
                var m = -Double.infinity
                for t in 0..<n { m = max(m, Double(z[t * e + j]) + u[t]) }
                var sum = 0.0
                for t in 0..<n { sum += exp(Double(z[t * e + j]) + u[t] - m) }
                column[j] = logColumn - (m + log(sum))
                change += abs(exp(column[j]) - exp(v[j]))
            }
            v = column
            if change / Double(e) <= tolerance { converged = true; break }
        }
        return Balance(logRowScale: u, logColumnScale: v, iterations: iterations, converged: converged)
    }

    /// Balanced top-k in training, plain top-k at evaluation.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount, k = configuration.k
        let s = gate.forward(x, tokenCount: n)
        let z = UnsafePointer(gate.gate.logits.pointer)
        if let bad = (0..<(n * e)).first(where: { !z[$0].isFinite }) {
            throw RoutingError(router: Self.name, message: "logit \(bad % e) of token \(bad / e) is \(z[bad]); "
                               + "Sinkhorn balancing needs finite logits (lower optimizer.learningRate or add gradientClip)")
        }
        plan.reset(tokenCount: n, expertCount: e)
        if context.training {
            let b = Self.balance(logits: z, rows: n, columns: e, tolerance: configuration.tolerance,
                                 maxIterations: configuration.maxIterations)
            // The top k of P = the top k of z_te + log d₁_e (log d₀_t is the same along a row).
            if selection.count != n * e { selection = [Float](repeating: 0, count: n * e) }
            for t in 0..<n { for j in 0..<e { selection[t * e + j] = Float(Double(z[t * e + j]) + b.logColumnScale[j]) } }
            TopKSelection.rows(selection, rows: n, width: e, k: k, values: &top, indices: &chosen)
            plan.scalars = [("sinkhorn.iterations", Float(b.iterations)), ("sinkhorn.converged", b.converged ? 1 : 0)]
        } else {
            TopKSelection.rows(s, rows: n, width: e, k: k, values: &top, indices: &chosen)
        }
        if weights.count != n * k { weights = [Float](repeating: 0, count: n * k) }
        for t in 0..<n { for j in 0..<k { weights[t * k + j] = s[t * e + Int(chosen[t * k + j])] } }
        builder.fill(plan, tokenCount: n, k: k, experts: chosen, weights: weights)
        plan.preferredExpert = (0..<n).map { chosen[$0 * k] }
        if gate.score == .softmax {
            plan.probabilities = gate.scoreTensor
        } else {
            let p = distribution.reserve(n)
            softmaxRows(z, into: p, rows: n, width: e)
            plan.probabilities = distribution.tensor
        }
    }

    /// Through the combine weights act(z) only (the assignment has no gradient).
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        gate.backward(plan: plan, dWeights: dWeights, base: nil, input: x, dInput: dInput)
    }
}
