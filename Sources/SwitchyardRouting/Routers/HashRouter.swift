import Foundation
import SwitchyardTensorCore

/// `hash`: hash routing (Roller et al. 2021, "Hash Layers For Large Sparse Models", arXiv
/// 2106.04426) in the two image-patch forms of routers-next A1: by patch position or by content.
///
/// By position (`by = position`): a fixed random permutation π of the patch positions, drawn once
/// from the router's seed and kept as router state (saved with the model, so a resumed or evaluated
/// model routes the same way — MoEBERT's `hash-random` table is not saved, a pitfall avoided
/// here): patch p goes to expert π(p) mod E. Exactly balanced over an image's patches only when
/// `positions` equals their number and E divides it.
///
/// By content (`by = content`): a frozen random-hyperplane hash (locality-sensitive, Charikar 2002)
/// of the patch's raw pixels, bucket(v) = Σ_i 2^i·[h_i·v > 0] over `bits` Gaussian hyperplanes
/// h_i, then a fixed bucket → expert table (a random permutation of the buckets mod E: every
/// expert owns the same number of buckets, not of patches). The table and the hyperplanes' seed
/// are router state; the hyperplanes are drawn from that seed when the patch size is first seen.
///
/// Each class token goes to expert `classTokenExpert`. Same in training and evaluation; no
/// capacity, nothing dropped. Combine weight 1 (Roller et al.), or with `learnedWeights` the
/// softmax gate's probability of the hashed expert (the DeepSeek-V4-port variant: hash selection,
/// learned weights; W is then trained through the weights only).
public final class HashRouter: Router {
    /// Hash hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// `position` or `content`.
        public var by = "position"
        /// The expert of every class token.
        public var classTokenExpert = 0
        /// Weight the hashed expert by a learned softmax gate's probability instead of 1.
        public var learnedWeights = false
        /// Patch positions the permutation covers (by position).
        public var positions = 1024
        /// Hyperplanes of the content hash: 2^bits buckets (by content).
        public var bits = 8

        /// Roller et al.: fixed table, weight 1.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "by": "position (a permutation of patch positions) or content (a random-hyperplane hash of the patch's raw pixels)",
            "classTokenExpert": "the expert every class token goes to",
            "learnedWeights": "weight the hashed expert by a learned softmax gate's probability (else 1)",
            "positions": "by position: patch positions the permutation covers (images with more patches are refused)",
            "bits": "by content: random hyperplanes, 2^bits buckets mapped to experts",
        ]

        /// Expert in 0..<E, positions 1…2²⁰, bits 1…20 with 2^bits ≥ E.
        public func validate(expertCount: Int) throws {
            try requireRange(["position", "content"].contains(by), "hash", "by", by, "position or content")
            try requireRange(classTokenExpert >= 0 && classTokenExpert < expertCount, "hash", "classTokenExpert",
                             classTokenExpert, "0 to E − 1 = \(expertCount - 1)")
            try requireRange(positions >= 1 && positions <= 1 << 20, "hash", "positions", positions, "1 to 1048576")
            try requireRange(bits >= 1 && bits <= 20 && 1 << bits >= expertCount, "hash", "bits", bits,
                             "1 to 20 with 2^bits ≥ E = \(expertCount)")
        }
    }

    /// "hash".
    public static let name = "hash"
    /// One sentence.
    public static let summary = "Fixed expert per patch position (π(position) mod E) or per patch content (random-hyperplane hash of the pixels), class token to a fixed expert (Roller et al. 2021)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// π, as Floats (router state; by position), or the bucket → expert table (by content).
    public let table: RouterState
    /// The hyperplanes' seed, two 24-bit halves (router state; by content).
    public let hyperplaneSeed: RouterState?
    /// The gate of `learnedWeights`.
    public let gate: SoftmaxGate?
    /// W when weights are learned.
    public var parameters: [Parameter] { gate?.parameters ?? [] }
    /// The permutation, or the bucket table and the hyperplanes' seed.
    public var state: [RouterState] { [table] + (hyperplaneSeed.map { [$0] } ?? []) }

    private var builder = RoutingPlanBuilder()
    private var experts: [Int32] = [], weights: [Float] = []
    private var hyperplanes: [Float] = [], hyperplanesFor: (seed: UInt64, pixels: Int)?

    /// A hash router; π (or the bucket table and the hyperplanes' seed) is drawn from `rng`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        let entries = configuration.by == "content" ? 1 << configuration.bits : configuration.positions
        var permutation = Array(0..<entries)
        for i in stride(from: permutation.count - 1, to: 0, by: -1) { permutation.swapAt(i, rng.nextInt(below: i + 1)) }
        if configuration.by == "content" {
            table = RouterState(name: "buckets", values: permutation.map { Float($0 % expertCount) })
            let seed = rng.next()
            hyperplaneSeed = RouterState(name: "hyperplaneSeed", values: [Float(seed >> 40), Float((seed >> 16) & 0xFF_FFFF)])
        } else {
            table = RouterState(name: "permutation", values: permutation.map(Float.init))
            hyperplaneSeed = nil
        }
        gate = configuration.learnedWeights ? SoftmaxGate(width: modelWidth, experts: expertCount, rng: &rng) : nil
    }

    /// The content hash's bucket of the `count` pixels at `v`.
    public func bucket(ofPixels v: UnsafePointer<Float>, count: Int) -> Int {
        let seedState = hyperplaneSeed!
        let seed = UInt64(seedState[0]) << 24 | UInt64(seedState[1])
        if hyperplanesFor == nil || hyperplanesFor! != (seed, count) {
            var planeRNG = SeededRNG(seed: seed)
            hyperplanes = [Float](repeating: 0, count: configuration.bits * count)
            planeRNG.fillGaussian(&hyperplanes, count: hyperplanes.count)
            hyperplanesFor = (seed, count)
        }
        var b = 0
        for i in 0..<configuration.bits {
            var dot: Float = 0
            for j in 0..<count { dot += hyperplanes[i * count + j] * v[j] }
            if dot > 0 { b |= 1 << i }
        }
        return b
    }

    /// Token t's expert from its position.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        guard context.tokensPerImage > 0 else {
            throw RoutingError(router: Self.name, message: "routes by patch \(configuration.by) and needs image tokens; the call has no image shape")
        }
        let e = expertCount
        if experts.count != n { experts = [Int32](repeating: 0, count: n); weights = [Float](repeating: 1, count: n) }
        if configuration.by == "content" {
            guard context.patchPixels != nil, context.pixelsPerPatch > 0 else {
                throw RoutingError(router: Self.name, message: "routes by content and needs the patches' pixels; the call has none")
            }
            for t in 0..<n {
                experts[t] = Int32(context.pixels(ofToken: t).map { Int(table[bucket(ofPixels: $0, count: context.pixelsPerPatch)]) }
                                   ?? configuration.classTokenExpert)
            }
        } else {
            guard context.tokensPerImage - 1 <= configuration.positions else {
                throw RoutingError(router: Self.name, message: "images have \(context.tokensPerImage - 1) patches; the table covers "
                                   + "\(configuration.positions) (set --router-option positions=N)")
            }
            for t in 0..<n {
                experts[t] = Int32(context.patchIndex(ofToken: t).map { Int(table[$0]) % e } ?? configuration.classTokenExpert)
            }
        }
        if let gate {
            let p = gate.forward(x, tokenCount: n)
            for t in 0..<n { weights[t] = p[t * e + Int(experts[t])] }
            plan.probabilities = gate.scoreTensor
        } else {
            for t in 0..<n { weights[t] = 1 }
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, k: 1, experts: experts, weights: weights)
        plan.probabilities = gate?.scoreTensor
        plan.preferredExpert = experts
    }

    /// Through the learned weights, if any.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        gate?.backward(plan: plan, dWeights: dWeights, base: nil, input: x, dInput: dInput)
    }
}
