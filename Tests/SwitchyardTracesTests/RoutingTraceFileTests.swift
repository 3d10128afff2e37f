import SwitchyardTestSupport
import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

final class RoutingTraceFileTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(name) }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// A `.sytrace` file assembled by hand: `json` as the metadata block, the given
    /// 4-byte words as the arrays, and a correct checksum (unless `crc` is given).
    func handMade(json: String, words: [UInt32], crc: UInt32? = nil) -> [UInt8] {
        var bytes = RoutingTraceFile.magic
        ByteCoding.append(UInt32(1), to: &bytes)
        ByteCoding.append(UInt32(json.utf8.count), to: &bytes)
        bytes += Array(json.utf8)
        while bytes.count % 8 != 0 { bytes.append(0) }
        for w in words { ByteCoding.append(w, to: &bytes) }
        ByteCoding.append(crc ?? crc32Checksum(bytes), to: &bytes)
        return bytes
    }

    /// Metadata for a one-layer trace of `tokens` tokens and `assignments` assignments.
    func json(tokens: Int = 2, experts: Int = 4, assignments: Int = 2, extra: String = "") -> String {
        """
        {"classCount":0,"classNames":[],"expertCount":\(experts),"format":"switchyard-trace","labels":false,\
        "layers":[{"assignments":\(assignments),"layer":0,"preferredExpert":false,"probabilities":false,\
        "routerEntropy":false,"topProbability":false\(extra)}],"metadata":{},"positions":false,"tokenCount":\(tokens)}
        """
    }

    func testCRC32IsTheStandardOne() {
        XCTAssertEqual(crc32Checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(crc32Checksum([]), 0)
    }

    func testRoundTripWithoutOptionalArrays() throws {
        let trace = sampleTrace(optional: false)
        try RoutingTraceFile.write(trace, to: path("plain.sytrace"))
        XCTAssertEqual(try RoutingTraceFile.read(path("plain.sytrace")), trace)
    }

    func testRoundTripWithEveryOptionalArray() throws {
        let trace = sampleTrace(optional: true)
        try RoutingTraceFile.write(trace, to: path("full.sytrace"))
        let back = try RoutingTraceFile.read(path("full.sytrace"))
        XCTAssertEqual(back, trace)
        XCTAssertEqual(back.layers[0].capacity, 2)
        XCTAssertNil(back.layers[1].capacity)
        XCTAssertEqual(back.classNames, ["cat", "dog", "ship"])
        XCTAssertEqual(back.metadata["router"], "switch")
        XCTAssertEqual(back.routingGroups, [3, 2])
    }

    func testRoundTripThroughGzip() throws {
        let trace = sampleTrace(optional: true)
        let file = path("runs/deep/full.sytrace.gz")
        try RoutingTraceFile.write(trace, to: file)
        XCTAssertTrue(GzipFile.isGzip(file))
        XCTAssertEqual(try RoutingTraceFile.read(file), trace)
        // A gzip file without the .gz name is recognised by its content.
        try FileManager.default.copyItem(atPath: file, toPath: path("renamed.sytrace"))
        XCTAssertEqual(try RoutingTraceFile.read(path("renamed.sytrace")), trace)
    }

    func testLayoutMatchesTheDocumentedFormat() throws {
        let trace = sampleTrace(optional: false)
        let bytes = try RoutingTraceFile.encode(trace)
        XCTAssertEqual(Array(bytes[0..<8]), [0x89, 0x53, 0x59, 0x54, 0x52, 0x41, 0x43, 0x45])
        XCTAssertEqual(ByteCoding.load(UInt32.self, from: bytes.withUnsafeBytes { $0 }, at: 8), 1)
        let m = bytes.withUnsafeBytes { Int(ByteCoding.load(UInt32.self, from: $0, at: 12)) }
        let header = try JSONSerialization.jsonObject(with: Data(bytes[16..<(16 + m)])) as! [String: Any]
        XCTAssertEqual(header["expertCount"] as? Int, 4)
        XCTAssertEqual(header["tokenCount"] as? Int, 5)
        let dataStart = (16 + m + 7) / 8 * 8
        // Layer 1: offsets (6), experts (4), weights (4); layer 3: offsets (6), experts (9), weights (9).
        XCTAssertEqual(bytes.count, dataStart + 4 * (6 + 4 + 4 + 6 + 9 + 9) + 4)
        let offsets = bytes.withUnsafeBytes { ByteCoding.readArray(Int32.self, from: $0, at: dataStart, count: 6) }
        XCTAssertEqual(offsets, [0, 1, 2, 2, 3, 4])
        let weights = bytes.withUnsafeBytes { ByteCoding.readArray(Float.self, from: $0, at: dataStart + 40, count: 4) }
        XCTAssertEqual(weights, [0.7, 0.6, 0.4, 1.0])
        let stored = bytes.withUnsafeBytes { ByteCoding.load(UInt32.self, from: $0, at: bytes.count - 4) }
        XCTAssertEqual(stored, crc32Checksum(Array(bytes.dropLast(4))))
        // Deterministic: the same trace always gives the same bytes.
        XCTAssertEqual(try RoutingTraceFile.encode(trace), bytes)
    }

    func testWritingAnInvalidTraceFailsAndLeavesNoFile() {
        var trace = sampleTrace(optional: false)
        trace.layers[0].experts[0] = 17
        assertInputError(try RoutingTraceFile.write(trace, to: path("bad.sytrace")), file: path("bad.sytrace"),
                         location: "experts[0]", message: "expert 17")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad.sytrace")))
    }

    func testTruncatedFilesAreRejectedWithTheirByteOffset() throws {
        let bytes = try RoutingTraceFile.encode(sampleTrace(optional: true))
        let m = bytes.withUnsafeBytes { Int(ByteCoding.load(UInt32.self, from: $0, at: 12)) }
        for cut in [0, 5, 8, 15, 19, 16 + m / 2, 16 + m + 9, bytes.count - 40, bytes.count - 5, bytes.count - 1] {
            let error = assertInputError(try RoutingTraceFile.decode(Array(bytes[0..<cut]), file: "cut.sytrace"),
                                         file: "cut.sytrace", location: "byte")
            if cut >= 20, let error {
                XCTAssertTrue(error.message.contains("truncated"), "cut at \(cut): \(error)")
            }
        }
        // Through a real gzip file cut short, too.
        let gz = try GzipFile.compress(bytes)
        try put(Array(gz[0..<(gz.count / 2)]), directory, "cut.sytrace.gz")
        assertInputError(try RoutingTraceFile.read(path("cut.sytrace.gz")), file: path("cut.sytrace.gz"))
    }

    func testFlippedBytesGiveAChecksumError() throws {
        let bytes = try RoutingTraceFile.encode(sampleTrace(optional: true))
        for position in [bytes.count - 100, bytes.count - 9, bytes.count - 3] {
            var corrupt = bytes
            corrupt[position] ^= 0x10
            assertInputError(try RoutingTraceFile.decode(corrupt, file: "flip.sytrace"), file: "flip.sytrace",
                             location: "byte \(bytes.count - 4)", message: "checksum mismatch")
        }
        // A flip inside the metadata text that keeps it valid JSON is caught by the checksum too.
        let pattern = Array("\"switch\"".utf8)
        let at = (0..<(bytes.count - pattern.count)).first { Array(bytes[$0..<($0 + pattern.count)]) == pattern }! + 1
        var renamed = bytes
        renamed[at] = UInt8(ascii: "S")
        assertInputError(try RoutingTraceFile.decode(renamed, file: "flip.sytrace"), file: "flip.sytrace",
                         message: "checksum mismatch")
    }

    func testWrongMagicAndVersion() throws {
        var bytes = try RoutingTraceFile.encode(sampleTrace(optional: false))
        var wrong = bytes
        wrong[3] = 0x00
        assertInputError(try RoutingTraceFile.decode(wrong, file: "m.sytrace"), file: "m.sytrace",
                         location: "byte 3", message: "not a Switchyard trace")
        assertInputError(try RoutingTraceFile.decode(Array("token,layer\n".utf8), file: "m.sytrace"),
                         file: "m.sytrace", location: "byte 0")
        bytes[8] = 3
        assertInputError(try RoutingTraceFile.decode(bytes, file: "v.sytrace"), file: "v.sytrace",
                         location: "byte 8", message: "newer Switchyard")
        bytes[8] = 0
        assertInputError(try RoutingTraceFile.decode(bytes, file: "v.sytrace"), file: "v.sytrace",
                         location: "byte 8", message: "format version 0 is not supported")
    }

    /// Domains, their names and shared-expert gates make a version 2 file; a trace without them
    /// stays version 1, byte for byte what earlier builds wrote.
    func testDomainsAndSharedGatesRoundTripInVersion2() throws {
        let plain = try RoutingTraceFile.encode(sampleTrace(optional: true))
        XCTAssertEqual(plain[8], 1)
        XCTAssertFalse(String(decoding: plain, as: UTF8.self).contains("domains"))
        var trace = sampleTrace(optional: true)
        trace.domains = (0..<trace.tokenCount).map { Int32($0 % 2) }
        trace.domainNames = ["code", "prose"]
        trace.layers[1].sharedGate = (0..<trace.tokenCount).map { Float($0) / 10 }
        try RoutingTraceFile.write(trace, to: path("v2.sytrace"))
        let back = try RoutingTraceFile.read(path("v2.sytrace"))
        XCTAssertEqual(back, trace)
        XCTAssertEqual(back.domainNames, ["code", "prose"])
        XCTAssertNil(back.layers[0].sharedGate)
        var bytes = try RoutingTraceFile.encode(trace)
        XCTAssertEqual(bytes[8], 2)
        bytes[8] = 1
        assertInputError(try RoutingTraceFile.decode(bytes, file: "v.sytrace"), file: "v.sytrace",
                         location: "byte 16 (metadata), field domains", message: "a version 2 field in a version 1 file")
        // A bad gate is found by validation and named by its byte.
        trace.layers[1].sharedGate![2] = 2
        XCTAssertThrowsError(try RoutingTraceFile.encode(trace))
    }

    func testLyingLengthsNeverAllocate() throws {
        let file = "lie.sytrace"
        // A metadata length past the end of the file.
        var bytes = try RoutingTraceFile.encode(sampleTrace(optional: false))
        bytes[14] = 0x7F
        assertInputError(try RoutingTraceFile.decode(bytes, file: file), file: file, location: "byte 12",
                         message: "runs past the end")
        bytes[12] = 0xFF; bytes[13] = 0xFF; bytes[14] = 0xFF; bytes[15] = 0xFF
        assertInputError(try RoutingTraceFile.decode(bytes, file: file), file: file, location: "byte 12",
                         message: "limit")
        // Token and assignment counts far beyond the file: rejected from the sizes alone.
        let words: [UInt32] = [0, 1, 2, 0, 1, 0x3F80_0000, 0x3F80_0000]
        assertInputError(try RoutingTraceFile.decode(handMade(json: json(tokens: 1 << 40), words: words), file: file),
                         file: file, location: "tokenCount")
        assertInputError(try RoutingTraceFile.decode(handMade(json: json(tokens: 1_000_000_000), words: words), file: file),
                         file: file, message: "truncated, or the metadata is corrupt")
        assertInputError(try RoutingTraceFile.decode(handMade(json: json(assignments: 2_000_000_000), words: words), file: file),
                         file: file, message: "truncated, or the metadata is corrupt")
        assertInputError(try RoutingTraceFile.decode(handMade(json: json(assignments: -5), words: words), file: file),
                         file: file, location: "layers[0].assignments", message: "-5")
        assertInputError(try RoutingTraceFile.decode(handMade(json: json(experts: 1 << 40), words: words), file: file),
                         file: file, location: "expertCount")
        // Full probabilities claimed for a huge expert count.
        let probs = json(tokens: 2, experts: 1 << 20).replacingOccurrences(of: "\"probabilities\":false", with: "\"probabilities\":true")
        assertInputError(try RoutingTraceFile.decode(handMade(json: probs, words: words), file: file),
                         file: file, message: "truncated, or the metadata is corrupt")
        // The well-formed version of the same file reads, so the rejections above are the lies'.
        let good = try RoutingTraceFile.decode(handMade(json: json(), words: words), file: file)
        XCTAssertEqual(good.layers[0].experts, [0, 1])
        XCTAssertEqual(good.layers[0].weights, [1, 1])
        // Extra bytes after the described data.
        assertInputError(try RoutingTraceFile.decode(handMade(json: json(), words: words + [0]), file: file),
                         file: file, message: "unexpected bytes")
    }

    func testBadMetadataIsReportedAtItsByteOffset() throws {
        let file = "meta.sytrace"
        let words: [UInt32] = [0, 1, 2, 0, 1, 0x3F80_0000, 0x3F80_0000]
        assertInputError(try RoutingTraceFile.decode(handMade(json: "{not json", words: words), file: file),
                         file: file, location: "byte 16", message: "not valid JSON")
        let missing = json().replacingOccurrences(of: "\"tokenCount\":2", with: "\"tokens\":2")
        assertInputError(try RoutingTraceFile.decode(handMade(json: missing, words: words), file: file),
                         file: file, location: "byte 16", message: "lacks the field tokenCount")
        let mistyped = json().replacingOccurrences(of: "\"expertCount\":4", with: "\"expertCount\":\"4\"")
        assertInputError(try RoutingTraceFile.decode(handMade(json: mistyped, words: words), file: file),
                         file: file, location: "byte 16", message: "expertCount")
        let otherFormat = json().replacingOccurrences(of: "switchyard-trace", with: "other")
        assertInputError(try RoutingTraceFile.decode(handMade(json: otherFormat, words: words), file: file),
                         file: file, location: "field format", message: "\"other\"")
    }

    func testInvariantViolationsInAWellFormedFileNameTheByte() throws {
        let file = "bad.sytrace"
        let metadata = json()
        let dataStart = (16 + metadata.utf8.count + 7) / 8 * 8
        // Expert 9 in the second assignment (experts start after 3 offsets).
        let words: [UInt32] = [0, 1, 2, 0, 9, 0x3F80_0000, 0x3F80_0000]
        assertInputError(try RoutingTraceFile.decode(handMade(json: metadata, words: words), file: file),
                         file: file, location: "byte \(dataStart + 4 * 4) (layer 0, token 1, experts[1])",
                         message: "expert 9 is outside 0..<4")
        // A NaN weight.
        let nan: [UInt32] = [0, 1, 2, 0, 1, 0x3F80_0000, 0x7FC0_0000]
        assertInputError(try RoutingTraceFile.decode(handMade(json: metadata, words: nan), file: file),
                         file: file, location: "byte \(dataStart + 4 * 6)", message: "nan")
        // Decreasing offsets.
        let decreasing: [UInt32] = [0, 2, 1, 0, 1, 0x3F80_0000, 0x3F80_0000]
        assertInputError(try RoutingTraceFile.decode(handMade(json: metadata, words: decreasing), file: file),
                         file: file, location: "byte \(dataStart + 8)", message: "less than the previous offset 2")
        // Routing groups that do not add up to the tokens: named in the metadata.
        let groups = metadata.replacingOccurrences(of: "\"positions\":false", with: "\"positions\":false,\"routingGroups\":[1,2]")
        assertInputError(try RoutingTraceFile.decode(handMade(json: groups, words: [0, 1, 2, 0, 1, 0x3F80_0000, 0x3F80_0000]), file: file),
                         file: file, location: "byte 16 (metadata), routingGroups[1]", message: "group of 2 tokens, but only 1 of the trace's 2 tokens remain")
        let huge = metadata.replacingOccurrences(of: "\"positions\":false", with: "\"positions\":false,\"routingGroups\":[1,\(Int.max)]")
        assertInputError(try RoutingTraceFile.decode(handMade(json: huge, words: [0, 1, 2, 0, 1, 0x3F80_0000, 0x3F80_0000]), file: file),
                         file: file, location: "routingGroups[1]", message: "group of \(Int.max) tokens")
        // Non-zero padding (covered by a correct checksum).
        var padded = handMade(json: metadata, words: [0, 1, 2, 0, 1, 0x3F80_0000, 0x3F80_0000])
        let padAt = 16 + metadata.utf8.count
        if padAt < dataStart {
            padded[padAt] = 7
            padded.removeLast(4)
            ByteCoding.append(crc32Checksum(padded), to: &padded)
            assertInputError(try RoutingTraceFile.decode(padded, file: file), file: file,
                             location: "byte \(padAt)", message: "padding")
        }
    }

    func testMissingFilesAndDirectories() {
        assertInputError(try RoutingTraceFile.read(path("nothing.sytrace")), file: path("nothing.sytrace"),
                         message: "no such file")
        assertInputError(try RoutingTraceFile.read(directory), file: directory, message: "is a directory")
    }

    /// A quick sanity check of speed: 400,000 assignments written and read back in a
    /// debug build (a release build reads ~10 million in a fraction of a second).
    func testReadingIsFast() throws {
        let n = 200_000
        var offsets = [Int32](repeating: 0, count: n + 1)
        var experts = [Int32](repeating: 0, count: 2 * n)
        for t in 0..<n {
            offsets[t + 1] = Int32(2 * t + 2)
            experts[2 * t] = Int32(t % 8)
            experts[2 * t + 1] = Int32((t + 3) % 8)
        }
        let trace = RoutingTrace(expertCount: 8, tokenCount: n, layers: [
            LayerRouting(layer: 0, offsets: offsets, experts: experts, weights: [Float](repeating: 0.5, count: 2 * n)),
        ])
        try RoutingTraceFile.write(trace, to: path("big.sytrace"))
        let start = Date()
        let back = try RoutingTraceFile.read(path("big.sytrace"))
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(back, trace)
        XCTAssertLessThan(seconds, 2.0)
    }
}
