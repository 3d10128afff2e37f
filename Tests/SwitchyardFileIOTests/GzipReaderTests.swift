import Foundation
import XCTest
@testable import SwitchyardFileIO

/// The one gzip reader: a stream is accepted only when it ends with its verified trailer
/// (issue 22, item 5), members may be joined, and only regular files are read.
final class GzipReaderTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "switchyard-fileio-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { directory + "/" + name }

    /// 2,000 CSV rows, as in the reproducer.
    let text = Array(("token,layer,expert,weight\n" + (0..<2000).map { "\($0),0,\($0 % 8),1\n" }.joined()).utf8)

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    /// Asserts that reading `file` fails with an InputError naming it whose message contains `words`.
    func assertRefused(_ file: String, _ words: String, line: UInt = #line) {
        XCTAssertThrowsError(try GzipFile.read(file), line: line) { error in
            guard let error = error as? InputError else { return XCTFail("not an InputError: \(error)", line: line) }
            XCTAssertEqual(error.file, file, line: line)
            XCTAssertTrue(error.message.contains(words), "\(error)", line: line)
        }
    }

    func testCompleteGzipReadsBackAndPlainFilesPassThrough() throws {
        XCTAssertEqual(try GzipFile.read(try write(try GzipFile.compress(text), "a.csv.gz")), text)
        XCTAssertEqual(try GzipFile.read(try write(text, "a.csv")), text)
        XCTAssertEqual(try GzipFile.read(try write([], "empty")), [])
        XCTAssertEqual(try GzipFile.read(try write([0x1f], "one-byte")), [0x1f])
    }

    func testTruncatedGzipIsRefusedWhereverItIsCut() throws {
        let packed = try GzipFile.compress(text)
        // Half of the stream (about 1,000 of 2,000 rows), the whole trailer, half of it, one byte.
        for cut in [packed.count / 2, 8, 4, 1] {
            let keep = cut == packed.count / 2 ? cut : packed.count - cut
            assertRefused(try write(Array(packed[0..<keep]), "cut-\(cut).gz"), "the file is truncated")
        }
        // Just the magic bytes: a header that never ends.
        assertRefused(try write([0x1f, 0x8b], "magic.gz"), "the file is truncated")
    }

    func testWrongTrailerChecksumOrLengthIsRefused() throws {
        let packed = try GzipFile.compress(text)
        var badCRC = packed
        badCRC[packed.count - 8] ^= 0x55
        assertRefused(try write(badCRC, "crc.gz"), "the CRC-32 in the gzip trailer does not match the data")
        var badLength = packed
        badLength[packed.count - 4] ^= 0x55
        assertRefused(try write(badLength, "isize.gz"), "the length in the gzip trailer does not match the data")
    }

    func testJoinedMembersAndZeroPaddingAreReadWholeButOtherTrailingBytesAreNot() throws {
        let first = Array(text[0..<1000]), second = Array(text[1000...])
        let joined = try GzipFile.compress(first) + GzipFile.compress(second, level: 1)
        XCTAssertEqual(try GzipFile.read(try write(joined, "joined.gz")), text)
        XCTAssertEqual(try GzipFile.read(try write(joined + [UInt8](repeating: 0, count: 100), "padded.gz")), text)
        assertRefused(try write(joined + Array("garbage".utf8), "garbage.gz"), "neither another gzip member nor zero padding")
        assertRefused(try write(joined + [0, 0, 0x1f], "stray.gz"), "neither another gzip member nor zero padding")
        // A second member that is itself cut short.
        let second2 = try GzipFile.compress(second)
        assertRefused(try write(try GzipFile.compress(first) + Array(second2.dropLast(3)), "second-cut.gz"), "the file is truncated")
    }

    func testSmallReadsGiveTheSameBytesAsOneRead() throws {
        let file = try write(try GzipFile.compress(text) + GzipFile.compress(text), "twice.gz")
        let reader = try GzipReader(file)
        XCTAssertTrue(reader.isGzip)
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 7)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            result += chunk[0..<n]
        }
        XCTAssertEqual(result, text + text)
        XCTAssertEqual(reader.bytesRead, 2 * text.count)
        XCTAssertEqual(try GzipFile.readPrefix(file, count: 5), Array(text[0..<5]))
    }

    func testSizeLimitStillHolds() throws {
        let file = try write(try GzipFile.compress(text), "limit.gz")
        XCTAssertThrowsError(try GzipFile.read(file, limit: text.count - 1)) { error in
            XCTAssertTrue("\(error)".contains("exceed"), "\(error)")
        }
        XCTAssertEqual(try GzipFile.read(file, limit: text.count), text)
    }

    func testSpecialFilesAreRefusedWithoutBlocking() throws {
        let fifo = path("pipe.csv")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // No writer ever opens the FIFO: a reader that opened it normally would wait forever.
        let started = Date()
        assertRefused(fifo, "is a FIFO (named pipe), not a regular file")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        assertRefused("/dev/zero", "is a character device, not a regular file")
        assertRefused(directory, "is a directory, not a regular file")
        assertRefused(path("missing.gz"), "no such file")
        XCTAssertFalse(GzipFile.isGzip(fifo))
        XCTAssertThrowsError(try GzipReader.checkRegularFile(fifo))
        XCTAssertNoThrow(try GzipReader.checkRegularFile(try write(text, "regular.csv")))
    }

    func testCRC32IsZlibsAndChunkable() {
        // The check value of CRC-32/ISO-HDLC (zlib, gzip, PNG): "123456789" → 0xCBF43926.
        XCTAssertEqual(crc32Checksum(Array("123456789".utf8)), 0xCBF4_3926)
        let whole = crc32Checksum(text)
        let split = text.withUnsafeBytes { raw in
            crc32Checksum(UnsafeRawBufferPointer(rebasing: raw[100...]),
                          startingWith: crc32Checksum(UnsafeRawBufferPointer(rebasing: raw[0..<100])))
        }
        XCTAssertEqual(whole, split)
    }
}
