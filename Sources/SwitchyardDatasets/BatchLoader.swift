import SwitchyardTensorCore

/// Per-channel normalisation x ↦ (x/255 − mean)/std.
public struct Normalization: Sendable, Equatable {
    /// Channel means of x/255.
    public var mean: [Float]
    /// Channel standard deviations of x/255.
    public var std: [Float]

    /// A normalisation with the given per-channel statistics.
    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// The usual statistics of a known data set's training images: Fashion-MNIST 0.2860/0.3530,
    /// MNIST 0.1307/0.3081, CIFAR-10 (0.4914, 0.4822, 0.4465)/(0.2470, 0.2435, 0.2616);
    /// otherwise 0.5/0.5 per channel.
    public static func standard(for dataset: String, channels: Int) -> Normalization {
        if dataset.hasPrefix("fashion-mnist") { return Normalization(mean: [0.2860], std: [0.3530]) }
        if dataset.hasPrefix("mnist") { return Normalization(mean: [0.1307], std: [0.3081]) }
        if dataset.hasPrefix("cifar10") {
            return Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
        }
        return Normalization(mean: Array(repeating: 0.5, count: channels), std: Array(repeating: 0.5, count: channels))
    }
}

/// Training-time augmentation, drawn from the loader's generator.
public struct Augmentation: Sendable, Equatable {
    /// Random crop: pad by this many zero pixels on every side and crop back at a random
    /// offset (0 = off).
    public var cropPadding: Int
    /// Mirror each image left–right with probability ½.
    public var horizontalFlip: Bool

    /// No augmentation.
    public static let none = Augmentation(cropPadding: 0, horizontalFlip: false)

    /// An augmentation.
    public init(cropPadding: Int, horizontalFlip: Bool) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }
}

/// Turns an ``ImageDataset`` into normalised Float32 batches [B, C, H, W] in preallocated
/// tensors, in a seeded order: epoch e of a loader with seed s always visits the images in the
/// same order and draws the same augmentations, whatever happened before.
///
/// ```swift
/// let loader = BatchLoader(dataset: train, batchSize: 128, shuffle: true, seed: 0)
/// loader.startEpoch(0)
/// for i in 0..<loader.batchCount {
///     let n = loader.fill(batch: i, images: images, labels: labels)
/// }
/// ```
public final class BatchLoader {
    /// The images.
    public let dataset: ImageDataset
    /// Images per batch (the last batch of an epoch may be smaller unless `dropLast`).
    public let batchSize: Int
    /// Normalisation applied to every pixel.
    public let normalization: Normalization
    /// Augmentation (training only).
    public let augmentation: Augmentation
    /// Shuffle each epoch (training) or keep the data set's order (evaluation).
    public let shuffle: Bool
    /// Drop the last partial batch of each epoch.
    public let dropLast: Bool
    /// The seed of every order and augmentation.
    public let seed: UInt64
    /// The image order of the current epoch.
    public private(set) var order: [Int]
    /// The current epoch (its augmentation streams derive from it).
    public private(set) var epoch = 0
    private var lookup: [Float]   // byte → normalised value, per channel
    private var scratch: [Float]

    /// A loader; `normalization` defaults to ``Normalization/standard(for:channels:)``.
    public init(dataset: ImageDataset, batchSize: Int, normalization: Normalization? = nil,
                augmentation: Augmentation = .none, shuffle: Bool, dropLast: Bool = false, seed: UInt64 = 0) {
        precondition(batchSize >= 1, "batch size must be at least 1")
        self.dataset = dataset
        self.batchSize = batchSize
        let norm = normalization ?? .standard(for: dataset.name, channels: dataset.channels)
        precondition(norm.mean.count == dataset.channels && norm.std.count == dataset.channels,
                     "normalisation needs one mean and std per channel")
        self.normalization = norm
        self.augmentation = augmentation
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.seed = seed
        order = Array(0..<dataset.count)
        lookup = []
        for c in 0..<dataset.channels {
            for v in 0..<256 { lookup.append((Float(v) / 255 - norm.mean[c]) / norm.std[c]) }
        }
        scratch = [Float](repeating: 0, count: dataset.height * dataset.width)
        startEpoch(0)
    }

    /// Batches per epoch.
    public var batchCount: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// Fixes the order of epoch `epoch`. Augmentation draws come from a stream of their own
    /// for each (epoch, batch), so a batch is the same whichever batch a run starts from (a
    /// run resumed in the middle of an epoch sees the batches an uninterrupted one would).
    public func startEpoch(_ epoch: Int) {
        var rng = SeededRNG.derived(seed: seed, stream: UInt64(epoch) &* 2 &+ 1)
        order = shuffle ? rng.permutation(dataset.count) : Array(0..<dataset.count)
        self.epoch = epoch
    }

    /// Writes batch `index` of the current epoch into `images` (at least [B, C, H, W]) and
    /// `labels` (at least B), and returns the number of images in it.
    @discardableResult
    public func fill(batch index: Int, images: Tensor, labels: UnsafeMutablePointer<Int32>) -> Int {
        let start = index * batchSize
        let n = min(batchSize, dataset.count - start)
        precondition(n > 0, "batch \(index) is past the end of the epoch")
        let c = dataset.channels, h = dataset.height, w = dataset.width, plane = h * w
        precondition(images.count >= n * c * plane, "image tensor too small for a batch")
        // Even streams (odd ones order the epochs): one per (epoch, batch).
        var augmentRNG = SeededRNG.derived(seed: seed, stream: ((UInt64(epoch) << 32) | UInt64(index)) &* 2 &+ 2)
        dataset.pixels.withUnsafeBufferPointer { pixels in
            lookup.withUnsafeBufferPointer { table in
                scratch.withUnsafeMutableBufferPointer { tmp in
                    for i in 0..<n {
                        let image = order[start + i]
                        labels[i] = dataset.labels[image]
                        var dx = 0, dy = 0, flip = false
                        if augmentation.cropPadding > 0 {
                            let p = augmentation.cropPadding
                            dx = augmentRNG.nextInt(below: 2 * p + 1) - p
                            dy = augmentRNG.nextInt(below: 2 * p + 1) - p
                        }
                        if augmentation.horizontalFlip { flip = augmentRNG.nextInt(below: 2) == 1 }
                        for ch in 0..<c {
                            let src = pixels.baseAddress! + (image * c + ch) * plane
                            let dst = images.pointer + (i * c + ch) * plane
                            let t = table.baseAddress! + ch * 256
                            if dx == 0 && dy == 0 && !flip {
                                for k in 0..<plane { dst[k] = t[Int(src[k])] }
                                continue
                            }
                            // Shifted crop of the zero-padded image (padding normalises as pixel 0).
                            for y in 0..<h {
                                for x in 0..<w {
                                    let sy = y + dy, sx = x + dx
                                    tmp[y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? t[Int(src[sy * w + sx])] : t[0]
                                }
                            }
                            for y in 0..<h {
                                for x in 0..<w { dst[y * w + x] = tmp[y * w + (flip ? w - 1 - x : x)] }
                            }
                        }
                    }
                }
            }
        }
        return n
    }
}
