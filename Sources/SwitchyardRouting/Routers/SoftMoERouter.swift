import Foundation
import SwitchyardTensorCore

/// `soft-moe`: Soft MoE (Puigcerver et al. 2023, "From Sparse to Soft Mixtures of Experts",
/// arXiv 2308.00951; reference: google-research/vmoe `vmoe/projects/soft_moe/router.py`).
///
/// One routing group per image, whatever `model.routingGroupImages` says (groups of several images
/// would mix images in a slot); tokens that are not images form one group. Per group of m tokens:
/// X̂ = x/√(Σx² + ε) per token, Φ̂ = Φ/√(Σ_d Φ² + ε) per slot (ε = 1e-6, vmoe's `normalize`),
/// logits L = X̂·(scale·Φ̂) (m × E·p, slot s belongs to expert s / p), dispatch D = softmax of L over
/// the group's tokens (per slot) and combine C = softmax of L over the slots (per token): a soft
/// plan (``SoftDispatch``). No auxiliary loss, no noise, nothing dropped, the same in training and
/// evaluation. p = `slotsPerExpert`, or round(m·capacityFactor/E) (at least 1) with m =
/// `tokensPerImage`, which the model sets to its own tokens per image.
public final class SoftMoERouter: Router {
    /// Soft MoE hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// Slots per expert p; 0 = from ``capacityFactor``.
        public var slotsPerExpert = 0
        /// c of p = round(m·c/E) when ``slotsPerExpert`` is 0.
        public var capacityFactor = 1.0
        /// m of p = round(m·c/E): the tokens per image (class token included). The model sets it
        /// to its own unless given; 50 is `fmnist-small`'s.
        public var tokensPerImage = 50
        /// The scale's initial value (vmoe: 1).
        public var initialScale: Float = 1

        /// vmoe's defaults: capacity factor 1.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "slotsPerExpert": "slots per expert p (0 = round(tokensPerImage·capacityFactor/E), at least 1)",
            "capacityFactor": "c of p = round(m·c/E) when slotsPerExpert is 0",
            "tokensPerImage": "m of p = round(m·c/E), class token included (set by the model)",
            "initialScale": "initial value of the learnable logit scale (vmoe: 1; logits start as cosines in [−1, 1])",
        ]

        /// p in 0…4096, c finite in (0, 10⁶], m in 1…10⁶.
        public func validate(expertCount: Int) throws {
            try requireRange(slotsPerExpert >= 0 && slotsPerExpert <= 4096, "soft-moe", "slotsPerExpert", slotsPerExpert,
                             "an integer from 0 (p from capacityFactor) to 4096")
            try ExpertCapacity.validate(capacityFactor, router: "soft-moe", field: "capacityFactor")
            try requireRange(tokensPerImage >= 1 && tokensPerImage <= 1_000_000, "soft-moe", "tokensPerImage",
                             tokensPerImage, "an integer from 1 to 1000000")
            try requireRange(initialScale.isFinite && initialScale > 0 && initialScale <= 1e4, "soft-moe", "initialScale",
                             initialScale, "a finite number > 0 and ≤ 10000")
            let p = slots(expertCount: expertCount)
            try requireRange(p <= 4096, "soft-moe", "capacityFactor", capacityFactor,
                             "a factor giving at most 4096 slots per expert (gives \(p))")
        }

        /// p: ``slotsPerExpert``, or max(1, ⌊m·c/E + 0.5⌋).
        public func slots(expertCount: Int) -> Int {
            if slotsPerExpert > 0 { return slotsPerExpert }
            let p = (Double(tokensPerImage) * capacityFactor / Double(max(expertCount, 1)) + 0.5).rounded(.down)
            return p >= 1e9 ? 1_000_000_000 : max(1, Int(p))
        }
    }

    /// "soft-moe".
    public static let name = "soft-moe"
    /// One sentence.
    public static let summary = "Each expert's p slots are softmax-weighted mixes of an image's tokens, each token a softmax-weighted mix of all slots' outputs (Puigcerver et al. 2023)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// Slots per expert p.
    public let slotsPerExpert: Int
    /// Φ, d × (E·p), one column per slot (expert-major).
    public let phi: Parameter
    /// The learnable scale of the logits (one value, initialised to `initialScale`, 1 by default).
    public let scale: Parameter
    /// Φ and the scale.
    public var parameters: [Parameter] { [phi, scale] }
    /// Soft; statistics record each token's largest-combine-mass expert, one per token.
    public var traits: RouterTraits { RouterTraits(k: 1, soft: true) }

    private let width: Int
    private var slots: Int { expertCount * slotsPerExpert }
    // Forward caches for backward.
    private var xHat = Tensor(shape: [0]), xInverseNorm: [Float] = []
    private var phiHat = Tensor(shape: [0]), phiInverseNorm: [Float] = []
    private var scaledPhi = Tensor(shape: [0]), dLogits = Tensor(shape: [0]), dXHat = Tensor(shape: [0])
    private var dPhi = Tensor(shape: [0]), rowDot: [Float] = []
    private var columnTop: [Float] = [], columnTotal: [Float] = [], columnDot: [Float] = []   // S each

    /// ε of the l2 normalisations (vmoe's).
    static let epsilon: Float = 1e-6

    /// A Soft MoE router for width `modelWidth`: Φ ~ N(0, 1/d) (LeCun normal, untruncated; the
    /// normalisation makes the forward independent of Φ's scale), scale = `initialScale`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        width = modelWidth
        slotsPerExpert = configuration.slots(expertCount: expertCount)
        phi = Parameter(name: "phi", shape: [modelWidth, expertCount * slotsPerExpert], decays: true)
        rng.fillGaussian(phi.value.pointer, count: phi.count, std: 1 / Float(modelWidth).squareRoot())
        scale = Parameter(name: "scale", shape: [1], decays: false)
        scale.value.pointer[0] = configuration.initialScale
    }

    /// The routing groups: one per image, or all tokens when they are not images.
    private func groups(_ n: Int, _ context: RoutingContext) throws -> [Range<Int>] {
        let t = context.tokensPerImage
        guard t > 0 else { return [0..<n] }
        guard n % t == 0 else {
            throw RoutingError(router: Self.name, message: "routes image by image; \(n) tokens are not whole images of \(t) tokens")
        }
        return stride(from: 0, to: n, by: t).map { $0 ..< $0 + t }
    }

    /// L = X̂·(scale·Φ̂); D = softmax over each image's tokens, C = softmax over the slots.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let d = width, s = slots
        let groups = try groups(n, context)
        plan.reset(tokenCount: n, expertCount: expertCount)
        let soft = plan.makeSoft(slotsPerExpert: slotsPerExpert, groups: groups)
        if xHat.count != n * d { xHat = Tensor(shape: [n, d]); dXHat = Tensor(shape: [n, d]) }
        if phiHat.count != d * s {
            phiHat = Tensor(shape: [d, s]); scaledPhi = Tensor(shape: [d, s]); dPhi = Tensor(shape: [d, s])
        }
        if dLogits.count != n * s { dLogits = Tensor(shape: [n, s]) }
        Self.normaliseRows(x, rows: n, width: d, into: xHat.pointer, inverseNorms: &xInverseNorm)
        normalisePhi()
        let a = scale.value.pointer[0]
        for i in 0..<d * s { scaledPhi.pointer[i] = a * phiHat.pointer[i] }
        let logits = soft.combine.pointer
        gemm(.none, .none, m: n, n: s, k: d, a: xHat.pointer, lda: d, b: scaledPhi.pointer, ldb: s, c: logits, ldc: s)
        if columnTop.count != s {
            columnTop = [Float](repeating: 0, count: s); columnTotal = columnTop; columnDot = columnTop
        }
        Self.softmaxColumns(logits, into: soft.dispatch.pointer, width: s, groups: groups, top: &columnTop, total: &columnTotal)
        softmaxRows(logits, into: logits, rows: n, width: s)
        plan.finish()
    }

    /// Φ̂ = Φ/√(Σ_d Φ² + ε), column by column.
    private func normalisePhi() {
        let d = width, s = slots, p = phi.value.pointer, q = phiHat.pointer
        if phiInverseNorm.count != s { phiInverseNorm = [Float](repeating: 0, count: s) }
        for j in 0..<s { phiInverseNorm[j] = 0 }
        for k in 0..<d { for j in 0..<s { phiInverseNorm[j] += p[k * s + j] * p[k * s + j] } }
        for j in 0..<s { phiInverseNorm[j] = 1 / (phiInverseNorm[j] + Self.epsilon).squareRoot() }
        for k in 0..<d { for j in 0..<s { q[k * s + j] = p[k * s + j] * phiInverseNorm[j] } }
    }

    /// x̂_t = x_t/√(Σ x_t² + ε) for each row; keeps 1/√(Σ x_t² + ε).
    static func normaliseRows(_ x: UnsafePointer<Float>, rows n: Int, width d: Int, into out: UnsafeMutablePointer<Float>,
                              inverseNorms: inout [Float]) {
        if inverseNorms.count != n { inverseNorms = [Float](repeating: 0, count: n) }
        inverseNorms.withUnsafeMutableBufferPointer { r in
            guard n > 0 else { return }
            rowDots(x, x, rows: n, width: d, into: r.baseAddress!)
            for t in 0..<n {
                r[t] = 1 / (r[t] + epsilon).squareRoot()
                for k in 0..<d { out[t * d + k] = x[t * d + k] * r[t] }
            }
        }
    }

    /// Softmax of each column of `logits` (rows × width) within each group of rows, max-subtracted.
    static func softmaxColumns(_ logits: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, width s: Int,
                               groups: [Range<Int>], top: inout [Float], total: inout [Float]) {
        for g in groups where !g.isEmpty {
            for j in 0..<s { top[j] = logits[g.lowerBound * s + j]; total[j] = 0 }
            for t in g { for j in 0..<s { top[j] = max(top[j], logits[t * s + j]) } }
            for t in g { for j in 0..<s { let v = expf(logits[t * s + j] - top[j]); out[t * s + j] = v; total[j] += v } }
            for j in 0..<s { total[j] = 1 / total[j] }
            for t in g { for j in 0..<s { out[t * s + j] *= total[j] } }
        }
    }

    /// From dD and dC to dL, then to dX̂ and d(scale·Φ̂), through the normalisations to dx
    /// (added to `dInput`), dΦ and dscale.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        guard let soft = plan.soft else { preconditionFailure("soft-moe: backward of a plan that is not soft") }
        let n = plan.tokenCount, d = width, s = slots
        let dl = dLogits.pointer, dd = soft.dDispatch.pointer, dc = soft.dCombine.pointer
        let dispatch = soft.dispatch.pointer
        // dL from the combine: the row softmax's backward; from the dispatch: the column softmax's.
        softmaxRowsBackward(output: soft.combine.pointer, dOutput: dc, dInput: dl, rows: n, width: s)
        var dot: [Float] = []   // the S-value scratch, borrowed without a copy
        swap(&dot, &columnDot)
        defer { swap(&dot, &columnDot) }
        for g in soft.groups {
            for j in 0..<s { dot[j] = 0 }
            for t in g { for j in 0..<s { dot[j] += dd[t * s + j] * dispatch[t * s + j] } }
            for t in g { for j in 0..<s { dl[t * s + j] += dispatch[t * s + j] * (dd[t * s + j] - dot[j]) } }
        }
        // dX̂ = dL·(scale·Φ̂)ᵀ; d(scale·Φ̂) = X̂ᵀ·dL.
        gemm(.none, .transposed, m: n, n: d, k: s, a: dl, lda: s, b: scaledPhi.pointer, ldb: s, c: dXHat.pointer, ldc: d)
        gemm(.transposed, .none, m: d, n: s, k: n, a: xHat.pointer, lda: d, b: dl, ldb: s, c: dPhi.pointer, ldc: s)
        let a = scale.value.pointer[0], q = phiHat.pointer, g = dPhi.pointer
        var dScale: Float = 0
        rowDots(g, q, rows: 1, width: d * s, into: &dScale)
        scale.gradient.pointer[0] += dScale
        // Through Φ̂ = Φ·r: dΦ = r·(dΦ̂ − Φ̂·⟨dΦ̂, Φ̂⟩) per column, with dΦ̂ = scale·d(scale·Φ̂).
        for j in 0..<s { dot[j] = 0 }
        for k in 0..<d { for j in 0..<s { dot[j] += g[k * s + j] * q[k * s + j] } }
        let dp = phi.gradient.pointer
        for k in 0..<d {
            for j in 0..<s { dp[k * s + j] += a * phiInverseNorm[j] * (g[k * s + j] - q[k * s + j] * dot[j]) }
        }
        // Through x̂ = x·r: dx = r·(dx̂ − x̂·⟨dx̂, x̂⟩) per token.
        let xh = xHat.pointer, dxh = dXHat.pointer
        if rowDot.count != n { rowDot = [Float](repeating: 0, count: n) }
        guard n > 0 else { return }
        rowDots(dxh, xh, rows: n, width: d, into: &rowDot)
        for t in 0..<n {
            let c = rowDot[t], r = xInverseNorm[t]
            for k in 0..<d { dInput[t * d + k] += r * (dxh[t * d + k] - xh[t * d + k] * c) }
        }
    }
}
