import SwitchyardLayers

/// The model FLOPs of a Vision Transformer with MoE feed-forward layers, counted analytically
/// per image (one multiply-add = 2 FLOPs), as `switchyard bench train` reports them.
///
/// With C channels, S×S images, patches of side p, P = (S/p)² patches, T = P + 1 tokens,
/// width d, expert hidden width h, c classes and classifier hidden width c_h, the forward pass
/// of one image costs
///
///     patch embedding      2 · P · (C·p²) · d
///     per block b:
///       QKV projection     2 · T · d · 3d
///       attention scores   2 · T² · d          (QKᵀ over all heads: heads · T² · d/heads)
///       weighted sum       2 · T² · d          (P·V)
///       output projection  2 · T · d · d
///       router             2 · T · r_b         (r_b = the router's parameters: linear gates
///                                               without bias, one multiply-add per weight)
///       experts            a_b · T · 4 · d · h (a_b = expert assignments per token, measured:
///                                               each assignment runs d→h and h→d)
///       shared experts     s · T · 4 · d · h_s (in MoE blocks: s shared experts of hidden h_s,
///                          + s · 2 · T · d      every token; the second term with sigmoid gates)
///     classifier           2 · d · c, or 2 · d · c_h + 2 · c_h · c with a hidden layer
///
/// and training counts **3 × forward** (the backward pass is taken as twice the forward, the
/// usual convention of Kaplan et al. 2020 and of MFU figures; Switchyard's patch embedding
/// does not need its input gradient, so its true backward is a little cheaper).
///
/// Not counted: biases, layer norms, GELU, softmax, residual adds, routing bookkeeping,
/// dispatch and combine, the loss and the optimiser (all O(T·d) or O(parameters), not GEMMs).
///
/// a_b is what the router really did: 1 for the dense feed-forward, ≤ 1 for Switch (tokens
/// past capacity are dropped), E·⌈c·n/E⌉/n ≈ c for Expert Choice, k for top-k without capacity.
///
/// ```swift
/// let flops = ModelFLOPs(configuration: c, assignmentsPerToken: [1, 1, 1, 1],
///                        routerParameters: [256, 256, 256, 256])
/// flops.training   // FLOPs per image of one training step
/// ```
public struct ModelFLOPs: Codable, Equatable, Sendable {
    /// Training FLOPs per forward FLOP: forward + backward = 3 × forward.
    public static let trainingMultiplier = 3.0

    /// Patch embedding, per image.
    public var patchEmbedding: Double
    /// QKV and output projections over all blocks, per image.
    public var attentionProjections: Double
    /// Attention scores and weighted sums over all blocks, per image.
    public var attentionMixing: Double
    /// Router gates over all blocks, per image.
    public var routers: Double
    /// Expert (or dense) feed-forward networks over all blocks for the assignments made, per image.
    public var experts: Double
    /// The classifier head (on the CLS token), per image.
    public var classifier: Double
    /// Shared experts (and their gates) over all MoE blocks, per image; nil for a model without
    /// them (absent from the JSON, so counts of such models encode as before).
    public var sharedExperts: Double?

    /// Forward FLOPs per image.
    public var forward: Double {
        patchEmbedding + attentionProjections + attentionMixing + routers + experts + classifier + (sharedExperts ?? 0)
    }

    /// Training FLOPs per image: ``trainingMultiplier`` × ``forward``.
    public var training: Double { Self.trainingMultiplier * forward }

    /// The count for `configuration`, where `assignmentsPerToken[b]` is a_b and
    /// `routerParameters[b]` is r_b of block b (both with one entry per block).
    public init(configuration m: ViTConfiguration, assignmentsPerToken: [Double], routerParameters: [Int]) {
        precondition(assignmentsPerToken.count == m.depth && routerParameters.count == m.depth,
                     "need one assignment rate and one router size per block (\(m.depth) blocks)")
        let p = Double(m.patchSize), d = Double(m.width), h = Double(m.expertHidden)
        let patches = Double((m.imageSize / m.patchSize) * (m.imageSize / m.patchSize))
        let t = patches + 1, blocks = Double(m.depth), classes = Double(m.classes)
        patchEmbedding = 2 * patches * (Double(m.imageChannels) * p * p) * d
        attentionProjections = blocks * (2 * t * d * 3 * d + 2 * t * d * d)
        attentionMixing = blocks * (2 * t * t * d + 2 * t * t * d)
        routers = routerParameters.reduce(0) { $0 + 2 * t * Double($1) }
        experts = assignmentsPerToken.reduce(0) { $0 + $1 * t * 4 * d * h }
        if m.sharedExpertCount > 0 {
            let moeBlocks = Double((0..<m.depth).filter(m.isMoEBlock).count), s = Double(m.sharedExpertCount)
            let gates = m.sharedExpertGateKind == .sigmoid ? 2 * t * d : 0
            sharedExperts = moeBlocks * s * (t * 4 * d * Double(m.sharedExpertWidth) + gates)
        }
        if m.classifierHidden > 0 {
            let ch = Double(m.classifierHidden)
            classifier = 2 * d * ch + 2 * ch * classes
        } else {
            classifier = 2 * d * classes
        }
    }

    /// The count for `model`, with its routers' parameter counts and the measured
    /// `assignmentsPerToken` (one per block, e.g. averaged from each block's
    /// `feedForward.plan` over training steps).
    public init(model: VisionTransformerModel, assignmentsPerToken: [Double]) {
        self.init(configuration: model.configuration, assignmentsPerToken: assignmentsPerToken,
                  routerParameters: model.blocks.map { $0.feedForward.router.parameters.reduce(0) { $0 + $1.count } })
    }
}
