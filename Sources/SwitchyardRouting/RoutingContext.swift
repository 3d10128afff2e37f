/// What a router may know about the call besides the tokens: the mode and the step, the shape
/// of the routing group, each token's position, the previous MoE layer's plan and, for oracle
/// baselines only, the labels.
///
/// Tokens arrive image by image: rows `i·T ..< (i+1)·T` are image i's T tokens, the first of
/// them its class token, then its patches in raster order. The batch's images are split into
/// routing groups of ``imagesPerGroup`` images (GShard's groups; `model.routingGroupImages`,
/// default the whole batch) that a router routes independently: capacity, expert choice and
/// per-group statistics apply within a group. ``groups`` gives their token ranges.
public struct RoutingContext: @unchecked Sendable {
    /// True while training (noise, jitter, random draws, training capacity factor);
    /// false at evaluation.
    public var training: Bool
    /// The index of the block in the model (MoE or not).
    public var layer: Int
    /// The optimisation step (0-based); at evaluation, the number of steps taken.
    public var step: Int
    /// The number of training steps of the whole run (for schedules), 0 when unknown.
    public var totalSteps: Int
    /// A random number drawn once per step and shared by every layer, for routers whose
    /// draw must be the same in all layers (random-batch routing picks one expert per
    /// step for the whole model from it). Per-token randomness comes from the `rng` argument
    /// of ``Router/route(_:tokenCount:context:rng:plan:)``, the step's own stream.
    public var sharedDraw: UInt64
    /// Tokens per image T (class token + patches); 0 when the tokens are not images (then
    /// ``position(ofToken:)`` is nil and the group is all tokens).
    public var tokensPerImage: Int
    /// Images per routing group; 0 = all images of the call in one group.
    public var imagesPerGroup: Int
    /// The plan of the previous MoE layer in this forward pass, if any (read-only).
    public var previousPlan: RoutingPlan?
    /// The class labels of the call's images, one per image — set only for routers whose traits
    /// declare ``RouterTraits/readsLabels`` (oracle baselines), nil otherwise.
    public var labels: UnsafeBufferPointer<Int32>?
    /// The raw pixels of the call's patches, `pixelsPerPatch` values per patch, patch p of image
    /// b at row b·(tokensPerImage − 1) + p (``pixels(ofToken:)``), or nil when the call has none:
    /// for routers that route by content (hash by content).
    public var patchPixels: UnsafePointer<Float>?
    /// Values per patch in ``patchPixels``.
    public var pixelsPerPatch: Int = 0

    /// A context; the defaults describe a single group of tokens that are not images.
    public init(training: Bool, layer: Int = 0, step: Int = 0, totalSteps: Int = 0, sharedDraw: UInt64 = 0,
                tokensPerImage: Int = 0, imagesPerGroup: Int = 0, previousPlan: RoutingPlan? = nil,
                labels: UnsafeBufferPointer<Int32>? = nil) {
        self.training = training
        self.layer = layer
        self.step = step
        self.totalSteps = totalSteps
        self.sharedDraw = sharedDraw
        self.tokensPerImage = tokensPerImage
        self.imagesPerGroup = imagesPerGroup
        self.previousPlan = previousPlan
        self.labels = labels
    }

    /// Token t's position in its image: 0 for the class token, 1 + p for patch p; nil when the
    /// tokens are not images.
    @inlinable public func position(ofToken t: Int) -> Int? {
        tokensPerImage > 0 ? t % tokensPerImage : nil
    }

    /// Token t's patch index in raster order, or nil for a class token (or non-image tokens).
    @inlinable public func patchIndex(ofToken t: Int) -> Int? {
        guard let p = position(ofToken: t), p > 0 else { return nil }
        return p - 1
    }

    /// The image token t belongs to (0 when the tokens are not images).
    /// The raw pixels of token t's patch (``patchPixels``), or nil for a class token or a call
    /// without pixels.
    @inlinable public func pixels(ofToken t: Int) -> UnsafePointer<Float>? {
        guard let patchPixels, let p = patchIndex(ofToken: t) else { return nil }
        return patchPixels + (image(ofToken: t) * (tokensPerImage - 1) + p) * pixelsPerPatch
    }

    @inlinable public func image(ofToken t: Int) -> Int {
        tokensPerImage > 0 ? t / tokensPerImage : 0
    }

    /// The token ranges of the routing groups of `n` tokens: consecutive ranges of
    /// ``imagesPerGroup``·``tokensPerImage`` tokens (the last one shorter when the images do not
    /// fill it), or one range of all tokens.
    public func groups(tokenCount n: Int) -> [Range<Int>] {
        let size = imagesPerGroup * tokensPerImage
        guard size > 0, size < n else { return [0..<n] }
        return stride(from: 0, to: n, by: size).map { $0 ..< min(n, $0 + size) }
    }

    /// The number of routing groups of `n` tokens.
    public func groupCount(tokenCount n: Int) -> Int {
        let size = imagesPerGroup * tokensPerImage
        guard size > 0, size < n else { return 1 }
        return (n + size - 1) / size
    }
}
