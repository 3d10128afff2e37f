import XCTest
@testable import SwitchyardDatasets
@testable import SwitchyardFileIO

final class IDXReaderTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "switchyard-idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) throws -> String {
        let path = directory + "/" + name
        try AtomicFile.write(gzip ? GzipFile.compress(bytes) : bytes, to: path)
        return path
    }

    func testRoundTripRawAndGzip() throws {
        let pixels: [UInt8] = (0..<(3 * 2 * 2)).map { UInt8($0 * 10) }
        for gzip in [false, true] {
            let images = try write("i\(gzip)", IDXReader.encode(dimensions: [3, 2, 2], bytes: pixels), gzip: gzip)
            let labels = try write("l\(gzip)", IDXReader.encode(dimensions: [3], bytes: [2, 0, 9]), gzip: gzip)
            let set = try IDXReader.loadDataset(images: images, labels: labels, name: "t", classNames: DatasetLocator.mnistClasses)
            XCTAssertEqual(set.count, 3)
            XCTAssertEqual(set.height, 2)
            XCTAssertEqual(set.pixels, pixels)
            XCTAssertEqual(set.labels, [2, 0, 9])
        }
    }

    func assertRejected(_ bytes: [UInt8], rank: Int = 3, gzip: Bool = false, mentions: [String],
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try write("bad-\(UUID().uuidString)", bytes, gzip: gzip)
        XCTAssertThrowsError(try IDXReader.read(path, expectedRank: rank), file: file, line: line) { error in
            guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError", file: file, line: line) }
            XCTAssertEqual(input.file, path, file: file, line: line)
            for word in mentions { XCTAssertTrue(input.description.contains(word), "'\(input)' should mention '\(word)'", file: file, line: line) }
        }
    }

    func testMalformedFilesGiveErrorsWithFileAndOffset() throws {
        let good = IDXReader.encode(dimensions: [2, 2, 2], bytes: [UInt8](repeating: 1, count: 8))
        try assertRejected([], mentions: ["byte 0", "0 bytes"])
        try assertRejected([0, 0], mentions: ["byte 0"])
        try assertRejected([1, 0, 8, 3] + good.dropFirst(4), mentions: ["byte 0", "magic"])
        try assertRejected([0, 0, 0x0D, 3] + good.dropFirst(4), mentions: ["byte 2", "0d"])
        try assertRejected(good, rank: 1, mentions: ["byte 3", "3 dimensions, expected 1"])
        try assertRejected(Array(good.prefix(10)), mentions: ["header ends early"])
        try assertRejected(Array(good.dropLast()), mentions: ["byte 16", "need 8 data bytes, file has 7"])
        try assertRejected(good + [0], mentions: ["file has 9"])
        try assertRejected([0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], mentions: ["byte 4", "4294967295"])
        // A corrupt gzip stream.
        var gz = try GzipFile.compress(good)
        gz.replaceSubrange(12..<16, with: [0xDE, 0xAD, 0xBE, 0xEF])
        try assertRejected(gz, mentions: ["gzip"])
    }

    func testLabelsOutOfRangeAndCountMismatch() throws {
        let images = try write("images", IDXReader.encode(dimensions: [2, 1, 1], bytes: [0, 1]))
        let badLabel = try write("labels", IDXReader.encode(dimensions: [2], bytes: [1, 12]))
        XCTAssertThrowsError(try IDXReader.loadDataset(images: images, labels: badLabel, name: "t", classNames: DatasetLocator.mnistClasses)) {
            XCTAssertTrue("\($0)".contains("byte 9") && "\($0)".contains("label 12"), "\($0)")
        }
        let fewer = try write("fewer", IDXReader.encode(dimensions: [1], bytes: [1]))
        XCTAssertThrowsError(try IDXReader.loadDataset(images: images, labels: fewer, name: "t", classNames: DatasetLocator.mnistClasses)) {
            XCTAssertTrue("\($0)".contains("1 labels") && "\($0)".contains("2 images"), "\($0)")
        }
    }

    /// Found by fuzz-idx: an images file of 0 images of 4,294,967,295 × 4,294,967,295 pixels
    /// (and 0 labels) loaded, and the data set's pixelsPerImage then trapped on overflow.
    func testZeroDimensionsAreRejected() throws {
        let labels = try write("no-labels", IDXReader.encode(dimensions: [0], bytes: []))
        for (dimensions, byte, what) in [([0, 0xFFFF_FFFF, 0xFFFF_FFFF], 4, "image count"), ([2, 0, 28], 8, "row count"),
                                         ([2, 1, 0], 12, "column count")] {
            let images = try write("zero-\(byte)", IDXReader.encode(dimensions: dimensions, bytes: []))
            XCTAssertThrowsError(try IDXReader.loadDataset(images: images, labels: labels, name: "t",
                                                           classNames: DatasetLocator.mnistClasses)) { error in
                guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError") }
                XCTAssertEqual(input.file, images)
                XCTAssertEqual(input.location, "byte \(byte)")
                XCTAssertTrue(input.message.contains("\(what) is 0"), "\(input)")
            }
        }
    }

    /// GzipFile.read refuses contents over its limit (2 GiB by default) instead of filling the
    /// memory: 16 MiB of zeros compress to 16 KiB, a ratio of 1000.
    func testGzipBombIsRefused() throws {
        let bomb = try write("bomb.gz", [UInt8](repeating: 0, count: 1 << 24), gzip: true)
        XCTAssertLessThan(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: bomb)[.size] as? Int), 1 << 15)
        XCTAssertThrowsError(try GzipFile.read(bomb, limit: 1 << 20)) { error in
            guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError") }
            XCTAssertEqual(input.file, bomb)
            XCTAssertEqual(input.location, "byte 1048576 of the decompressed stream")
            XCTAssertTrue(input.message.contains("exceed 1048576 bytes") && input.message.contains("gzip bomb"), "\(input)")
        }
        XCTAssertEqual(try GzipFile.read(bomb, limit: 1 << 24).count, 1 << 24)
        XCTAssertEqual(GzipFile.defaultLimit, 1 << 31)
        // An uncompressed file is held to the same limit.
        let plain = try write("plain", [UInt8](repeating: 1, count: 100))
        XCTAssertThrowsError(try GzipFile.read(plain, limit: 99))
        XCTAssertEqual(try GzipFile.read(plain, limit: 100).count, 100)
    }

    func testCIFARRecordsAndErrors() throws {
        var record = [UInt8](repeating: 7, count: 3073)
        record[0] = 4
        let parsed = try CIFAR10Reader.parse(record + record, file: "x.bin")
        XCTAssertEqual(parsed.labels, [4, 4])
        XCTAssertEqual(parsed.pixels.count, 2 * 3072)
        XCTAssertThrowsError(try CIFAR10Reader.parse(Array(record.dropLast()), file: "x.bin")) {
            XCTAssertTrue("\($0)".contains("x.bin") && "\($0)".contains("3073"), "\($0)")
        }
        record[0] = 10
        XCTAssertThrowsError(try CIFAR10Reader.parse(record, file: "x.bin")) { XCTAssertTrue("\($0)".contains("label 10")) }
    }

    func testCommittedSubsetLoads() throws {
        let train = try DatasetLocator.load(name: "fashion-mnist-subset", directory: nil, split: .train)
        let test = try DatasetLocator.load(name: "fashion-mnist-subset", directory: nil, split: .test)
        XCTAssertEqual(train.count, 2000)
        XCTAssertEqual(test.count, 500)
        XCTAssertEqual(Set(train.labels).count, 10)
        XCTAssertEqual(Set(test.labels).count, 10)
        XCTAssertEqual(train.height, 28)
        XCTAssertEqual(train.classNames[9], "Ankle boot")
    }

    func testMissingDataSetSaysWhatToInstall() {
        XCTAssertThrowsError(try DatasetLocator.load(name: "fashion-mnist", directory: directory, split: .train)) {
            XCTAssertTrue("\($0)".contains("dataset-fashion-mnist") && "\($0)".contains("--data-dir"), "\($0)")
        }
        XCTAssertThrowsError(try DatasetLocator.load(name: "cifar10", directory: nil, split: .train)) {
            XCTAssertTrue("\($0)".contains("--data-dir"), "\($0)")
        }
        XCTAssertThrowsError(try DatasetLocator.load(name: "imagenet", directory: nil, split: .train)) {
            XCTAssertTrue("\($0)".contains("fashion-mnist"), "\($0)")
        }
    }
}
