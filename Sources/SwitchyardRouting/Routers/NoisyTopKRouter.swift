import Foundation
import SwitchyardTensorCore

/// `noisy-top-k`: noisy top-k gating (Shazeer et al. 2017, "Outrageously Large Neural Networks",
/// §2.1 and Appendix A), as in the authors' reference implementation.
///
/// Clean logits h = x·W_gᵀ; noise scale σ = softplus(x·W_noiseᵀ) + ε_σ; in training
/// h̃ = h + ξ·σ with ξ ~ N(0, 1) (no noise at evaluation). Gates: softmax over the k largest h̃,
/// 0 elsewhere. Auxiliary losses, both with CV² = Var/Mean² (unbiased variance, as `torch.var`):
/// importance w_imp·CV²(Σ_t gate_t) and load w_load·CV²(load) with
/// load_e = Σ_t Φ((h_te − θ_te)/σ_te), θ_te the k-th largest noisy logit of the *other* experts
/// (the (k+1)-th largest if e is in the top k, else the k-th); without noise, load_e counts the
/// tokens with a non-zero gate and is not differentiated. `probabilities` are softmax(h).
public final class NoisyTopKRouter: Router {
    /// Noisy top-k hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// Experts per token.
        public var k = 2
        /// Gaussian noise in training.
        public var noise = true
        /// ε_σ added to the softplus noise scale.
        public var noiseEpsilon: Float = 1e-2
        /// w_imp.
        public var importanceLossWeight: Float = 1e-2
        /// w_load.
        public var loadLossWeight: Float = 1e-2

        /// The paper's defaults for the `fmnist-small` preset.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "k": "experts per token",
            "noise": "add learned Gaussian noise to the logits in training",
            "noiseEpsilon": "added to softplus(x·W_noise), the noise scale",
            "importanceLossWeight": "w_imp of the importance loss w_imp·CV²(importance)",
            "loadLossWeight": "w_load of the load loss w_load·CV²(load)",
        ]

        /// 1 ≤ k ≤ E, weights ≥ 0, ε_σ > 0.
        public func validate(expertCount: Int) throws {
            try requireRange(k >= 1 && k <= expertCount, "noisy-top-k", "k", k, "1 to E = \(expertCount)")
            try requireRange(noiseEpsilon > 0 && noiseEpsilon.isFinite, "noisy-top-k", "noiseEpsilon", noiseEpsilon, "a finite number > 0")
            try requireRange(importanceLossWeight >= 0 && importanceLossWeight.isFinite, "noisy-top-k", "importanceLossWeight", importanceLossWeight, "a finite number ≥ 0")
            try requireRange(loadLossWeight >= 0 && loadLossWeight.isFinite, "noisy-top-k", "loadLossWeight", loadLossWeight, "a finite number ≥ 0")
        }
    }

    /// "noisy-top-k".
    public static let name = "noisy-top-k"
    /// One sentence.
    public static let summary = "Learned Gaussian noise on the logits, softmax over the top k, importance and load losses (Shazeer et al. 2017)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// W_g, [E, d].
    public let gate: RouterGate
    /// W_noise, [E, d].
    public let noiseGate: RouterGate
    /// W_g and W_noise.
    public var parameters: [Parameter] { [gate.weight, noiseGate.weight] }

    private let probabilities: PlanProbabilities
    private var noisy = Tensor(shape: [0])       // h̃
    private var sigma = Tensor(shape: [0])       // σ
    private var xi = Tensor(shape: [0])          // ξ
    private var gates = Tensor(shape: [0])       // n × E, zeros outside the top k
    private var topIndices: [Int32] = []         // n × (k+1) when the load loss is smooth
    private var topValues: [Float] = []
    private var usedNoise = false
    private var importanceGradient: [Float] = []
    private var builder = RoutingPlanBuilder()
    private var choices: [Int32] = []
    private var choiceWeights: [Float] = []

    /// k experts per token.
    public var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }
    private var loadGradient: [Float] = []

    /// A noisy top-k router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = RouterGate(name: "gate.weight", width: modelWidth, experts: expertCount, rng: &rng)
        noiseGate = RouterGate(name: "noise.weight", width: modelWidth, experts: expertCount, rng: &rng)
        probabilities = PlanProbabilities(experts: expertCount)
    }

    /// CV² = Var/Mean² with the unbiased variance, and its gradient with respect to each value.
    static func cvSquared(_ v: [Float]) -> (value: Float, gradient: [Float]) {
        let m = v.count
        guard m > 1 else { return (0, [Float](repeating: 0, count: m)) }
        let mean = v.reduce(0, +) / Float(m)
        var ss: Float = 0
        for x in v { ss += (x - mean) * (x - mean) }
        let variance = ss / Float(m - 1)
        let denominator = mean * mean + 1e-10
        let value = variance / denominator
        // d/dv_i: (2(v_i − mean)/(m−1))/D − Var·(2·mean/m)/D².
        let gradient = v.map { x in
            (2 * (x - mean) / Float(m - 1)) / denominator - variance * (2 * mean / Float(m)) / (denominator * denominator)
        }
        return (value, gradient)
    }

    /// Noisy top-k gating.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount, k = configuration.k
        plan.reset(tokenCount: n, expertCount: e)
        let h = gate.forward(x, tokenCount: n)
        let raw = noiseGate.forward(x, tokenCount: n)
        if noisy.count < n * e {
            noisy = Tensor(shape: [n * e]); sigma = Tensor(shape: [n * e])
            xi = Tensor(shape: [n * e]); gates = Tensor(shape: [n * e])
        }
        usedNoise = context.training && configuration.noise
        let hn = noisy.pointer, s = sigma.pointer, z = xi.pointer
        for i in 0..<(n * e) {
            s[i] = softplus(raw[i]) + configuration.noiseEpsilon
            if usedNoise {
                z[i] = rng.nextGaussian()
                hn[i] = h[i] + z[i] * s[i]
            } else {
                z[i] = 0
                hn[i] = h[i]
            }
        }
        let m = min(k + 1, e)
        if topValues.count < n * m {
            topValues = [Float](repeating: 0, count: n * m)
            topIndices = [Int32](repeating: 0, count: n * m)
        }
        topKRows(hn, rows: n, width: e, k: m, values: &topValues, indices: &topIndices)
        let g = gates.pointer
        g.update(repeating: 0, count: n * e)
        var preferred = [Int32](repeating: 0, count: n)
        for t in 0..<n {
            // Softmax over the top k noisy logits.
            let top = topValues[t * m]
            var total: Float = 0
            for j in 0..<k { total += expf(topValues[t * m + j] - top) }
            for j in 0..<k { g[t * e + Int(topIndices[t * m + j])] = expf(topValues[t * m + j] - top) / total }
            preferred[t] = topIndices[t * m]
        }
        choices = [Int32](repeating: -1, count: n * k)
        choiceWeights = [Float](repeating: 0, count: n * k)
        for t in 0..<n {
            for j in 0..<k {
                let expert = topIndices[t * m + j]
                if g[t * e + Int(expert)] > 0 {
                    choices[t * k + j] = expert
                    choiceWeights[t * k + j] = g[t * e + Int(expert)]
                }
            }
        }
        builder.fill(plan, tokenCount: n, k: k, experts: choices, weights: choiceWeights)
        softmaxRows(h, into: probabilities.reserve(n), rows: n, width: e)
        plan.probabilities = probabilities.tensor
        plan.preferredExpert = preferred

        var importance = [Float](repeating: 0, count: e)
        for t in 0..<n { for j in 0..<e { importance[j] += g[t * e + j] } }
        var load = [Float](repeating: 0, count: e)
        if usedNoise && k < e {
            for t in 0..<n {
                for j in 0..<e {
                    let i = t * e + j
                    let threshold = loadThreshold(token: t, expert: j, width: m)
                    load[j] += standardNormalCDF((h[i] - hn[t * e + Int(threshold)]) / s[i])
                }
            }
        } else {
            for t in 0..<n { for j in 0..<e where g[t * e + j] > 0 { load[j] += 1 } }
        }
        let imp = Self.cvSquared(importance), ld = Self.cvSquared(load)
        importanceGradient = imp.gradient.map { $0 * configuration.importanceLossWeight }
        loadGradient = (usedNoise && k < e) ? ld.gradient.map { $0 * configuration.loadLossWeight } : []
        let importanceLoss = configuration.importanceLossWeight * imp.value
        let loadLoss = configuration.loadLossWeight * ld.value
        plan.auxiliaryLoss = importanceLoss + loadLoss
        plan.auxiliaryTerms = [("importance", importanceLoss), ("load", loadLoss)]
    }

    /// The expert whose noisy logit is θ_te: the (k+1)-th largest if e is in the top k, else the k-th.
    private func loadThreshold(token t: Int, expert: Int, width m: Int) -> Int32 {
        let k = configuration.k
        var inTop = false
        for j in 0..<k where Int(topIndices[t * m + j]) == expert { inTop = true }
        return inTop ? topIndices[t * m + k] : topIndices[t * m + k - 1]
    }

    /// Through the gates (softmax over the top k), the importance loss, and the smooth load
    /// loss (through h, σ and the thresholds).
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = plan.tokenCount, e = expertCount, k = configuration.k, m = min(k + 1, e)
        let g = gates.pointer, hn = noisy.pointer, s = sigma.pointer, z = xi.pointer
        let h = gate.logits.pointer, raw = noiseGate.logits.pointer
        let dh = gate.dLogits.pointer, dRaw = noiseGate.dLogits.pointer
        // dL/dgate: combine weights plus the importance loss.
        var dGate = [Float](repeating: 0, count: n * e)
        for expert in 0..<e {
            for i in plan.range(ofExpert: expert) { dGate[Int(plan.tokens[i]) * e + expert] += dWeights[i] }
        }
        for t in 0..<n { for j in 0..<e { dGate[t * e + j] += auxiliaryLossScale * importanceGradient[j] } }
        // dL/dh̃ (noisy logits) and dL/dσ.
        var dNoisy = [Float](repeating: 0, count: n * e)
        var dSigma = [Float](repeating: 0, count: n * e)
        for t in 0..<n {
            // Softmax over the top k: dh̃_j = g_j (dg_j − Σ_i g_i dg_i) for j in the top k.
            var dot: Float = 0
            for j in 0..<k {
                let idx = t * e + Int(topIndices[t * m + j])
                dot += g[idx] * dGate[idx]
            }
            for j in 0..<k {
                let idx = t * e + Int(topIndices[t * m + j])
                dNoisy[idx] += g[idx] * (dGate[idx] - dot)
            }
        }
        if !loadGradient.isEmpty {
            for t in 0..<n {
                for j in 0..<e {
                    let i = t * e + j
                    let thresholdExpert = Int(loadThreshold(token: t, expert: j, width: m))
                    let zScore = (h[i] - hn[t * e + thresholdExpert]) / s[i]
                    let dz = auxiliaryLossScale * loadGradient[j] * standardNormalDensity(zScore)
                    dh[i] += dz / s[i]
                    dNoisy[t * e + thresholdExpert] -= dz / s[i]
                    dSigma[i] -= dz * zScore / s[i]
                }
            }
        }
        // h̃ = h + ξ·σ; σ = softplus(r) + ε.
        for i in 0..<(n * e) {
            dh[i] += dNoisy[i]
            dSigma[i] += dNoisy[i] * z[i]
            dRaw[i] += dSigma[i] * sigmoid(raw[i])
        }
        gate.backward(x, tokenCount: n, dInput: dInput)
        noiseGate.backward(x, tokenCount: n, dInput: dInput)
    }
}

/// log(1 + eˣ), computed without overflow.
@inline(__always) func softplus(_ x: Float) -> Float { x > 20 ? x : log1pf(expf(x)) }
/// 1/(1 + e⁻ˣ).
@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
/// Φ(x), the standard normal distribution function.
@inline(__always) func standardNormalCDF(_ x: Float) -> Float { 0.5 * erfcf(-x / Float(2).squareRoot()) }
/// φ(x), the standard normal density.
@inline(__always) func standardNormalDensity(_ x: Float) -> Float { expf(-0.5 * x * x) / (2 * Float.pi).squareRoot() }
