import SwitchyardTensorCore

/// The ViT input layer (Dosovitskiy et al. 2021): cuts each [C, H, W] image into
/// non-overlapping p × p patches, flattens each patch channel-major (index c·p² + i·p + j),
/// projects it linearly to width D, prepends a learned CLS token and adds learned positional
/// embeddings. Output: [B·T, D] with T = (H/p)·(W/p) + 1 and row b·T the CLS token of image b.
/// CLS and positions are initialised N(0, 0.02²) and not weight-decayed.
public final class PatchEmbedding: Layer {
    /// The patch projection, C·p² → D.
    public let projection: Linear
    /// The CLS token, [D].
    public let cls: Parameter
    /// Positional embeddings, [T, D].
    public let positions: Parameter
    /// Image channels C.
    public let channels: Int
    /// Image side (square images).
    public let imageSize: Int
    /// Patch side p.
    public let patchSize: Int
    /// Model width D.
    public let width: Int
    /// Tokens per image T (patches + CLS).
    public let tokensPerImage: Int
    /// The output of the last forward, [B·T, D].
    public private(set) var output: Tensor
    private var patches: Tensor      // [B·P, C·p²]
    private var dPatches: Tensor     // [B·P, D]

    /// An embedding of `imageChannels`-channel square images of side `imageSize`.
    public init(name: String, imageChannels: Int, imageSize: Int, patchSize: Int, width: Int, rng: inout SeededRNG) {
        precondition(imageSize % patchSize == 0, "patch size \(patchSize) does not divide image size \(imageSize)")
        channels = imageChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.width = width
        let perSide = imageSize / patchSize
        tokensPerImage = perSide * perSide + 1
        projection = Linear(name: "\(name).patch", inputWidth: imageChannels * patchSize * patchSize,
                            outputWidth: width, rng: &rng)
        cls = Parameter(name: "\(name).cls", shape: [width], decays: false)
        rng.fillGaussian(cls.value.pointer, count: width, std: 0.02)
        positions = Parameter(name: "\(name).positions", shape: [tokensPerImage, width], decays: false)
        rng.fillGaussian(positions.value.pointer, count: positions.count, std: 0.02)
        output = Tensor(shape: [0, width])
        patches = Tensor(shape: [0, imageChannels * patchSize * patchSize])
        dPatches = Tensor(shape: [0, width])
    }

    /// The projection, CLS token and positions.
    public var parameters: [Parameter] { projection.parameters + [cls, positions] }

    /// The raw pixels of the last forward's patches, [B·P, C·p²] (row b·P + patch), as the
    /// projection reads them: what content-based routers hash.
    public var patchPixels: UnsafePointer<Float> { UnsafePointer(patches.pointer) }
    /// Pixel values per patch, C·p².
    public var pixelsPerPatch: Int { channels * patchSize * patchSize }

    /// Embeds the first `batch` images of `images` ([B, C, H, W]); returns ``output``'s storage.
    @discardableResult
    public func forward(images: Tensor, batch: Int) -> UnsafeMutablePointer<Float> {
        let p = patchSize, perSide = imageSize / p, patchCount = perSide * perSide
        let patchWidth = channels * p * p, t = tokensPerImage, d = width
        if output.shape[0] < batch * t {
            output = Tensor(shape: [batch * t, d])
            patches = Tensor(shape: [batch * patchCount, patchWidth])
            dPatches = Tensor(shape: [batch * patchCount, d])
        }
        let src = images.pointer, dst = patches.pointer
        for b in 0..<batch {
            for py in 0..<perSide {
                for px in 0..<perSide {
                    let row = dst + (b * patchCount + py * perSide + px) * patchWidth
                    for c in 0..<channels {
                        let plane = src + (b * channels + c) * imageSize * imageSize
                        for i in 0..<p {
                            (row + c * p * p + i * p).update(from: plane + (py * p + i) * imageSize + px * p, count: p)
                        }
                    }
                }
            }
        }
        let projected = projection.forward(patches.pointer, rows: batch * patchCount)
        let out = output.pointer, pos = positions.value.pointer
        for b in 0..<batch {
            let image = out + b * t * d
            add(cls.value.pointer, pos, into: image, count: d)
            add(projected + b * patchCount * d, pos + d, into: image + d, count: patchCount * d)
        }
        return out
    }

    /// Backward through the last forward: accumulates the projection's, CLS and position
    /// gradients from dL/d(output) ([B·T, D]). Images need no gradient.
    public func backward(dOutput: UnsafePointer<Float>, batch: Int) {
        let t = tokensPerImage, d = width, patchCount = t - 1
        for b in 0..<batch {
            let image = dOutput + b * t * d
            addInPlace(cls.gradient.pointer, image, count: d)
            addInPlace(positions.gradient.pointer, image, count: t * d)
            (dPatches.pointer + b * patchCount * d).update(from: image + d, count: patchCount * d)
        }
        projection.backward(dOutput: dPatches.pointer, dInput: nil)
    }
}
