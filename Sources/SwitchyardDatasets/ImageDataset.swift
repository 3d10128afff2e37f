/// A labelled image data set held in memory as bytes, the way IDX and CIFAR files
/// store it: `count` images of `channels × height × width` pixels in 0…255, channel
/// planes first (CHW), and one class label per image.
///
/// Pixels stay as bytes (Fashion-MNIST's 60,000 training images take 47 MB) and are
/// turned into normalised Float32 batches by ``BatchLoader``.
public struct ImageDataset: Sendable {
    /// A short name for messages and reports, e.g. "fashion-mnist/train".
    public var name: String
    /// Number of images.
    public var count: Int
    /// Colour channels (1 for MNIST-style data, 3 for CIFAR-10).
    public var channels: Int
    /// Image height in pixels.
    public var height: Int
    /// Image width in pixels.
    public var width: Int
    /// Pixels, count × channels × height × width, row-major.
    public var pixels: [UInt8]
    /// Class labels in `0..<classNames.count`.
    public var labels: [Int32]
    /// Class names, index = label.
    public var classNames: [String]

    /// A data set; the sizes must agree (checked with a precondition, because every
    /// reader validates its input before building one).
    public init(name: String, count: Int, channels: Int, height: Int, width: Int,
                pixels: [UInt8], labels: [Int32], classNames: [String]) {
        precondition(pixels.count == count * channels * height * width, "pixel count does not match the shape")
        precondition(labels.count == count, "label count does not match the image count")
        self.name = name
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// Pixels per image.
    public var pixelsPerImage: Int { channels * height * width }
}

extension ImageDataset {
    /// The first `n` images (all of them if there are fewer).
    public func prefix(_ n: Int) -> ImageDataset {
        let k = Swift.min(n, count)
        return ImageDataset(name: name, count: k, channels: channels, height: height, width: width,
                            pixels: Array(pixels[0..<(k * pixelsPerImage)]), labels: Array(labels[0..<k]),
                            classNames: classNames)
    }
}
