import SwitchyardFileIO
import SwitchyardLayers

/// The shape of a Vision Transformer with Mixture-of-Experts feed-forward layers
/// (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", with pre-LayerNorm blocks).
public struct ViTConfiguration: Codable, Equatable, Sendable {
    /// Colour channels of the input images.
    public var imageChannels = 1
    /// Height and width of the (square) input images, in pixels.
    public var imageSize = 28
    /// Side of the square patches; must divide ``imageSize``.
    public var patchSize = 4
    /// Model width d (token representation size); must be divisible by ``heads``.
    public var width = 64
    /// Attention heads per block.
    public var heads = 4
    /// Number of transformer blocks.
    public var depth = 4
    /// Hidden width h of each expert FFN (and of the dense FFN).
    public var expertHidden = 256
    /// Experts per MoE layer (the dense router always uses 1).
    public var experts = 4
    /// An MoE feed-forward in every m-th block (blocks m−1, 2m−1, …); the others are dense.
    /// 1 = every block.
    public var moeEvery = 1
    /// The router's registered name (see `switchyard routers`).
    public var router = "switch"
    /// Router hyperparameters overriding its defaults, name → value.
    public var routerOptions: [String: String] = [:]
    /// Number of classes.
    public var classes = 10
    /// Hidden width of an MLP classifier head (GELU); 0 = a single linear layer.
    public var classifierHidden = 0
    /// Dropout rate after attention and feed-forward outputs (0 = none).
    public var dropout: Float = 0
    /// Images per routing group (GShard's groups): each group of this many images of a batch is
    /// routed independently (capacity and expert choice per group). Absent or 0: the whole batch
    /// is one group. Must divide the batch size.
    public var routingGroupImages: Int?
    /// Shared experts per MoE layer (DeepSeekMoE): always-on FFNs beside the routed experts,
    /// outside routing, load statistics and traces. Absent or 0: none.
    public var sharedExperts: Int?
    /// Hidden width of each shared expert. Absent: ``expertHidden``.
    public var sharedExpertHidden: Int?
    /// How shared experts are weighted: "none" (added as they are, DeepSeekMoE) or "sigmoid"
    /// (y += sigmoid(x·w_s)·FFN_s(x) with a learned w_s, Qwen2-MoE). Absent: "none".
    public var sharedExpertGate: String?

    /// The `fmnist-small` model.
    public init() {}

    /// Tokens per image: one per patch plus the CLS token.
    public var tokensPerImage: Int { (imageSize / patchSize) * (imageSize / patchSize) + 1 }

    /// Shared experts per MoE layer (0 when absent).
    public var sharedExpertCount: Int { sharedExperts ?? 0 }
    /// The shared experts' hidden width in force.
    public var sharedExpertWidth: Int { sharedExpertHidden ?? expertHidden }
    /// The shared experts' gate in force (``SharedExpertGate/none`` when absent or unknown;
    /// ``validate()`` rejects unknown names).
    public var sharedExpertGateKind: SharedExpertGate { sharedExpertGate.flatMap(SharedExpertGate.init(rawValue:)) ?? .none }

    /// Whether block `b` has an MoE feed-forward (else a dense one).
    public func isMoEBlock(_ b: Int) -> Bool { (b + 1) % moeEvery == 0 }

    /// Checks every field, with messages that give the allowed range.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ value: Any, _ allowed: String) throws {
            if !ok { throw InputError(location: "model.\(field)", message: "\(value) is not allowed; expected \(allowed)") }
        }
        try check(imageChannels >= 1, "imageChannels", imageChannels, "at least 1")
        try check(imageSize >= 1, "imageSize", imageSize, "at least 1")
        try check(patchSize >= 1 && patchSize <= imageSize && imageSize % patchSize == 0, "patchSize", patchSize,
                  "a divisor of imageSize \(imageSize)")
        try check(width >= 1, "width", width, "at least 1")
        try check(heads >= 1 && width % heads == 0, "heads", heads, "at least 1 and dividing width \(width)")
        try check(depth >= 1, "depth", depth, "at least 1")
        try check(expertHidden >= 1, "expertHidden", expertHidden, "at least 1")
        try check(experts >= 1 && experts <= 4096, "experts", experts, "1 to 4096")
        try check(moeEvery >= 1 && moeEvery <= depth, "moeEvery", moeEvery, "1 to depth (\(depth))")
        try check(classes >= 2, "classes", classes, "at least 2")
        try check(classifierHidden >= 0, "classifierHidden", classifierHidden, "0 (linear head) or more")
        try check(dropout.isFinite && dropout >= 0 && dropout < 1, "dropout", dropout, "a number in [0, 1)")
        if let g = routingGroupImages {
            try check(g >= 0, "routingGroupImages", g, "0 (the whole batch) or a number of images dividing the batch size")
        }
        if let s = sharedExperts { try check(s >= 0 && s <= 64, "sharedExperts", s, "0 (none) to 64") }
        if let h = sharedExpertHidden { try check(h >= 1, "sharedExpertHidden", h, "at least 1") }
        if let g = sharedExpertGate {
            try check(SharedExpertGate(rawValue: g) != nil, "sharedExpertGate", "'\(g)'",
                      SharedExpertGate.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or "))
        }
    }
}
