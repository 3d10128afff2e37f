import XCTest
@testable import SwitchyardDatasets
@testable import SwitchyardTensorCore

final class BatchLoaderTests: XCTestCase {
    func dataset(count: Int = 10, side: Int = 3) -> ImageDataset {
        ImageDataset(name: "fashion-mnist/test", count: count, channels: 1, height: side, width: side,
                     pixels: (0..<(count * side * side)).map { UInt8($0 % 256) }, labels: (0..<count).map { Int32($0 % 10) },
                     classNames: DatasetLocator.fashionMNISTClasses)
    }

    func epochLabels(_ loader: BatchLoader, epoch: Int) -> [Int32] {
        loader.startEpoch(epoch)
        let images = Tensor(shape: [loader.batchSize, 1, 3, 3])
        var labels = [Int32](repeating: -1, count: loader.batchSize), all: [Int32] = []
        for b in 0..<loader.batchCount {
            let n = loader.fill(batch: b, images: images, labels: &labels)
            all += labels[0..<n]
        }
        return all
    }

    func testSeededShuffleVisitsEveryImageOncePerEpoch() {
        let a = BatchLoader(dataset: dataset(), batchSize: 4, shuffle: true, seed: 3)
        let b = BatchLoader(dataset: dataset(), batchSize: 4, shuffle: true, seed: 3)
        XCTAssertEqual(a.batchCount, 3)
        let e0 = epochLabels(a, epoch: 0), e1 = epochLabels(a, epoch: 1)
        XCTAssertEqual(e0.sorted(), (0..<10).map { Int32($0) })
        XCTAssertEqual(e0, epochLabels(b, epoch: 0))
        XCTAssertNotEqual(e0, e1)
        XCTAssertEqual(epochLabels(a, epoch: 0), e0, "an epoch's order does not depend on what came before")
        let ordered = BatchLoader(dataset: dataset(), batchSize: 4, shuffle: false)
        XCTAssertEqual(epochLabels(ordered, epoch: 5), (0..<10).map { Int32($0) })
        XCTAssertEqual(BatchLoader(dataset: dataset(), batchSize: 4, shuffle: false, dropLast: true).batchCount, 2)
    }

    func testNormalisation() {
        let loader = BatchLoader(dataset: dataset(count: 1), batchSize: 1, shuffle: false)
        let images = Tensor(shape: [1, 1, 3, 3])
        var labels: [Int32] = [0]
        loader.fill(batch: 0, images: images, labels: &labels)
        for k in 0..<9 { XCTAssertEqual(images.pointer[k], (Float(k) / 255 - 0.2860) / 0.3530, accuracy: 1e-6) }
        XCTAssertEqual(Normalization.standard(for: "cifar10/train", channels: 3).mean.count, 3)
    }

    func testCropAndFlipMoveThePixels() {
        // With padding 1 every crop is a shift by −1…1; with a flip the rows are mirrored.
        let source = dataset(count: 1)
        let loader = BatchLoader(dataset: source, batchSize: 1, normalization: Normalization(mean: [0], std: [1.0 / 255]),
                                 augmentation: Augmentation(cropPadding: 1, horizontalFlip: true), shuffle: false, seed: 1)
        let images = Tensor(shape: [1, 1, 3, 3])
        var labels: [Int32] = [0]
        var seen = Set<[Float]>()
        for epoch in 0..<40 {
            loader.startEpoch(epoch)
            loader.fill(batch: 0, images: images, labels: &labels)
            let got = images.array
            seen.insert(got)
            // Some shift/flip of the source must produce exactly this image.
            var matched = false
            for dy in -1...1 { for dx in -1...1 { for flip in [false, true] {
                var expected = [Float](repeating: 0, count: 9)
                for y in 0..<3 { for x in 0..<3 {
                    let xs = flip ? 2 - x : x
                    let sy = y + dy, sx = xs + dx
                    expected[y * 3 + x] = (0..<3).contains(sy) && (0..<3).contains(sx) ? Float(source.pixels[sy * 3 + sx]) : 0
                } }
                if zip(expected, got).allSatisfy({ abs($0 - $1) < 1e-3 }) { matched = true }
            } } }
            XCTAssertTrue(matched, "epoch \(epoch): \(got) is no shift/flip of the source")
        }
        XCTAssertGreaterThan(seen.count, 5, "augmentation should vary")
    }
}
