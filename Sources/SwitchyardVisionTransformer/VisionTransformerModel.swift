import SwitchyardFileIO
import SwitchyardLayers
import SwitchyardRouting
import SwitchyardTensorCore

/// A Vision Transformer whose feed-forward layers are Mixture-of-Experts layers:
/// patch embedding with a CLS token and learned positions, `depth` pre-LayerNorm blocks,
/// a final LayerNorm, and a classifier on the CLS token, trained with softmax cross-entropy
/// plus the routers' auxiliary losses.
///
/// ```swift
/// var rng = SeededRNG(seed: 0)
/// let model = try VisionTransformerModel(configuration: ViTConfiguration(), rng: &rng)
/// let result = model.forward(images: batch, labels: labels, batchSize: 128, context: context, rng: &rng)
/// model.backward()   // accumulates every parameter's gradient
/// ```
public final class VisionTransformerModel: Layer {
    /// The configuration the model was built from.
    public let configuration: ViTConfiguration
    /// Patch embedding, CLS token and positions.
    public let embedding: PatchEmbedding
    /// The transformer blocks.
    public let blocks: [TransformerBlock]
    /// The final layer norm.
    public let finalNorm: LayerNormLayer
    /// The classifier: an optional hidden layer (GELU) and a linear layer on the CLS token.
    public let head: ClassifierHead
    /// Softmax cross-entropy over the classes.
    public let loss = CrossEntropy()

    private var blockGradients: [Tensor] = []   // dL/d(block input), reused
    private var lastBatch = 0

    /// Builds the model and its routers (from ``RouterRegistry/shared``), initialising every
    /// parameter from `rng`. Throws when the router or its options are unusable.
    public init(configuration: ViTConfiguration, registry: RouterRegistry = .shared, rng: inout SeededRNG) throws {
        try configuration.validate()
        self.configuration = configuration
        let c = configuration
        embedding = PatchEmbedding(name: "embedding", imageChannels: c.imageChannels, imageSize: c.imageSize,
                                   patchSize: c.patchSize, width: c.width, rng: &rng)
        var blocks: [TransformerBlock] = []
        for b in 0..<c.depth {
            let router: any Router
            if c.isMoEBlock(b) {
                router = try registry.makeRouter(name: c.router, options: c.effectiveRouterOptions(registry: registry), modelWidth: c.width,
                                                 expertCount: c.experts, rng: &rng)
            } else {
                router = DenseRouter(configuration: .init(), modelWidth: c.width, expertCount: 1, rng: &rng)
            }
            let shared = c.isMoEBlock(b) ? c.sharedExpertCount : 0
            blocks.append(TransformerBlock(name: "blocks.\(b)", width: c.width, heads: c.heads,
                                           hidden: c.expertHidden, router: router, dropout: c.dropout,
                                           sharedExperts: shared, sharedHidden: c.sharedExpertWidth,
                                           sharedGate: c.sharedExpertGateKind, rng: &rng))
        }
        self.blocks = blocks
        finalNorm = LayerNormLayer(name: "final_norm", width: c.width)
        head = ClassifierHead(name: "head", width: c.width, hidden: c.classifierHidden, classes: c.classes, rng: &rng)
    }

    /// Every trainable parameter in a stable order.
    public var parameters: [Parameter] {
        embedding.parameters + blocks.flatMap(\.parameters) + finalNorm.parameters + head.parameters
    }

    /// The MoE layers with their block indices (blocks with the dense router included when
    /// the configured router is dense).
    public var moeLayers: [(block: Int, layer: MoELayer)] {
        blocks.enumerated().compactMap { b, block in
            configuration.isMoEBlock(b) ? (b, block.feedForward) : nil
        }
    }

    /// Parameters the evaluated model uses: for random-batch routing the experts are averaged
    /// into one FFN per layer, so this equals the dense model's count.
    public var evaluationParameterCount: Int {
        parameterCount - blocks.reduce(0) { $0 + $1.feedForward.parameterCount - $1.feedForward.evaluationParameterCount }
    }

    /// The result of a forward pass over a batch.
    public struct BatchResult: Sendable {
        /// Cross-entropy plus auxiliary losses.
        public var loss: Float
        /// Mean cross-entropy.
        public var crossEntropy: Float
        /// Sum of the routers' (weighted) auxiliary losses.
        public var auxiliaryLoss: Float
        /// Correctly classified images.
        public var correct: Int

        /// A result from its parts (expert parallelism combines the ranks' into the batch's).
        public init(loss: Float, crossEntropy: Float, auxiliaryLoss: Float, correct: Int) {
            self.loss = loss
            self.crossEntropy = crossEntropy
            self.auxiliaryLoss = auxiliaryLoss
            self.correct = correct
        }
    }

    /// Forward over `batchSize` images ([B, C, H, W]) with their labels. Sets the routing
    /// context's layer, image shape, routing groups (`routingGroupImages`), the previous MoE
    /// layer's plan, the patches' raw pixels and, for routers that declare they read labels, the labels. Caches what
    /// ``backward()`` needs. Throws when a router cannot route the batch.
    public func forward(images: Tensor, labels: UnsafePointer<Int32>, batchSize: Int, context: RoutingContext,
                        rng: inout SeededRNG) throws -> BatchResult {
        let t = configuration.tokensPerImage
        lastBatch = batchSize
        var x = UnsafePointer(embedding.forward(images: images, batch: batchSize))
        var auxiliary: Float = 0
        var previousPlan: RoutingPlan?
        for (b, block) in blocks.enumerated() {
            var blockContext = context
            blockContext.layer = b
            blockContext.tokensPerImage = t
            blockContext.imagesPerGroup = configuration.routingGroupImages ?? 0
            blockContext.previousPlan = previousPlan
            blockContext.patchPixels = embedding.patchPixels
            blockContext.pixelsPerPatch = embedding.pixelsPerPatch
            blockContext.labels = block.feedForward.router.traits.readsLabels
                ? UnsafeBufferPointer(start: labels, count: batchSize) : nil
            try block.forward(x, batch: batchSize, tokensPerImage: t, context: blockContext, rng: &rng)
            auxiliary += block.feedForward.plan.auxiliaryLoss
            if configuration.isMoEBlock(b) { previousPlan = block.feedForward.plan }
            x = UnsafePointer(block.output.pointer)
        }
        let normed = finalNorm.forward(x, rows: batchSize * t)
        let logits = head.forward(tokens: normed, batch: batchSize, tokensPerImage: t)
        let (crossEntropy, correct) = loss.forward(logits: logits, labels: labels, batch: batchSize, classes: configuration.classes)
        return BatchResult(loss: crossEntropy + auxiliary, crossEntropy: crossEntropy, auxiliaryLoss: auxiliary, correct: correct)
    }

    /// The logits of the last forward, [B, classes].
    public var logits: UnsafePointer<Float> { UnsafePointer(head.output.pointer) }

    /// Backward through the last training forward: accumulates every parameter's gradient of
    /// (cross-entropy + auxiliary losses).
    public func backward() {
        let batch = lastBatch, t = configuration.tokensPerImage, rows = batch * t, d = configuration.width
        if blockGradients.count != 2 || blockGradients[0].count < rows * d {
            blockGradients = [Tensor(shape: [rows, d]), Tensor(shape: [rows, d])]
        }
        let dLogits = loss.backward()
        let dNormed = head.backward(dLogits: dLogits, batch: batch, tokensPerImage: t)
        let lastOutput = UnsafePointer(blocks.last!.output.pointer)
        var current = blockGradients[0].pointer, spare = blockGradients[1].pointer
        finalNorm.backward(dOutput: dNormed, input: lastOutput, rows: rows, dInput: current)
        for b in stride(from: blocks.count - 1, through: 0, by: -1) {
            let input = b == 0 ? UnsafePointer(embedding.output.pointer) : UnsafePointer(blocks[b - 1].output.pointer)
            blocks[b].backward(dOutput: current, input: input, dInput: spare, batch: batch, tokensPerImage: t)
            swap(&current, &spare)
        }
        embedding.backward(dOutput: current, batch: batch)
    }
}
