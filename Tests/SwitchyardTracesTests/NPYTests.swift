import SwitchyardTestSupport
import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

final class NPYArrayTests: XCTestCase {
    func testVersionsShapesAndTypes() throws {
        for version: UInt8 in [1, 2, 3] {
            let a = try NPYArray.parse(npy([Int32(1), -2, 3, 4, 5, 6], shape: [2, 3], descr: "<i4", version: version),
                                       file: "a.npy")
            XCTAssertEqual(a.shape, [2, 3])
            XCTAssertEqual(a.dtype, .int32)
            XCTAssertEqual(a.dataOffset % 64, 0)
            XCTAssertEqual(try a.integers(role: "x"), [1, -2, 3, 4, 5, 6])
        }
        let b = try NPYArray.parse(npy([Int64(7), -1, Int64(Int32.max) + 5], shape: [3], descr: "<i8"), file: "b.npy")
        XCTAssertEqual(b.shape, [3])
        XCTAssertEqual(try b.integers(role: "x"), [7, -1, Int(Int32.max) + 5])
        let c = try NPYArray.parse(npy(floats: [0.5, 0.25], shape: [1, 2], descr: "<f8"), file: "c.npy")
        XCTAssertEqual(try c.floats(role: "x"), [0.5, 0.25])
        let d = try NPYArray.parse(npy(floats: [1.5], shape: [], descr: "<f4"), file: "d.npy")
        XCTAssertEqual(d.shape, [])
        XCTAssertEqual(d.count, 1)
        XCTAssertEqual(try d.floats(role: "x"), [1.5])
        // Python 2 style long dimensions and double quotes.
        let e = try NPYArray.parse(npyBytes(header: "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2L,)}",
                                            data: [1, 0, 0, 0, 2, 0, 0, 0]), file: "e.npy")
        XCTAssertEqual(try e.integers(role: "x"), [1, 2])
        XCTAssertEqual(e.describeElement(1), "element [1] (byte \(e.dataOffset + 4))")
        XCTAssertThrowsError(try e.floats(role: "weights"))
        XCTAssertThrowsError(try c.integers(role: "experts"))
    }

    func testHeaderErrorsNameTheFileAndByte() {
        func check(_ bytes: [UInt8], location: String? = nil, _ message: String, line: UInt = #line) {
            assertInputError(try NPYArray.parse(bytes, file: "x.npy"), file: "x.npy", location: location,
                             message: message, line: line)
        }
        let data: [UInt8] = [1, 0, 0, 0]
        check(npyBytes(header: "{'descr': '<i4', 'fortran_order': True, 'shape': (1,), }", data: data),
              location: "byte 10", "fortran_order is True")
        check(npyBytes(header: "{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", data: data),
              "'>i4' is big-endian")
        check(npyBytes(header: "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", data: data),
              "'<i2' is not supported")
        check(npyBytes(header: "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }", data: data),
              "structured type")
        check(npyBytes(header: "{'descr': '<i4', 'fortran_order': False}", data: data), "no 'shape'")
        check(npyBytes(header: "{'descr': '<i4', 'fortran_order': False, 'shape': (1, -2), }", data: data),
              location: "(header)", "non-negative integer")
        check(npyBytes(header: "{'descr': '<i4', 'fortran_order': False, 'shape': (1,) ", data: data),
              location: "(header)", "ends inside its dict")
        check(npyBytes(header: "{'descr': '<i4' 'fortran_order': False, 'shape': (1,), }", data: data),
              location: "(header)", "expected ',' or '}'")
        check(npyBytes(header: "{'descr': '<i4', 'fortran_order': Maybe, 'shape': (1,), }", data: data),
              location: "(header)", "unexpected value")
        check(Array("PK\u{3}\u{4}".utf8), location: "byte 0", "not a NumPy .npy file")
        var v4 = npy([Int32(1)], shape: [1], descr: "<i4")
        v4[6] = 4
        check(v4, location: "byte 6", "version 4.0")
        var long = npy([Int32(1)], shape: [1], descr: "<i4")
        long[9] = 0x7F
        check(long, location: "byte 8", "runs past the end")
        check(Array(npy([Int32(1)], shape: [1], descr: "<i4").prefix(9)), location: "byte 9", "truncated")
    }

    func testDataLengthMustMatchTheShape() {
        let full = npy([Int32](repeating: 3, count: 6), shape: [2, 3], descr: "<i4")
        let cut = Array(full.dropLast(5))
        assertInputError(try NPYArray.parse(cut, file: "x.npy"), file: "x.npy", location: "byte \(cut.count)",
                         message: "needs 24 data bytes")
        assertInputError(try NPYArray.parse(full + [0, 0], file: "x.npy"), file: "x.npy",
                         location: "byte \(full.count)", message: "2 unexpected bytes")
        // A shape whose size overflows is rejected from the header alone.
        let huge = npyBytes(header: npyHeader("<f8", [1 << 40, 1 << 40]), data: [])
        assertInputError(try NPYArray.parse(huge, file: "x.npy"), file: "x.npy", message: "more elements than can be addressed")
        let big = npyBytes(header: npyHeader("<f8", [1 << 30, 1 << 20]), data: [0])
        assertInputError(try NPYArray.parse(big, file: "x.npy"), file: "x.npy", message: "truncated")
    }
}

final class RoutingTraceNPYTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(name) }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// 3 tokens, top-2: token 1 lost its second slot, token 2 was dropped entirely.
    func writeTopTwo(weights: Bool = true, probs: Bool = false) throws {
        try put(npy([Int64(2), 0, 1, -1, -1, -1], shape: [3, 2], descr: "<i8"), directory, "experts.npy")
        if weights {
            try put(npy(floats: [0.75, 0.25, 1.0, 0.0, 0.5, 0.5], shape: [3, 2]), directory, "weights.npy")
        }
        if probs {
            try put(npy(floats: [0.25, 0.0, 0.75, 0.5, 0.5, 0.0, 0.125, 0.125, 0.75], shape: [3, 3], descr: "<f8"),
                    directory, "probs.npy")
        }
        try put(npy([Int32(4), 1, -1], shape: [3], descr: "<i4"), directory, "labels.npy")
        try put(npy([Int64(0), 1, 2], shape: [3], descr: "<i8"), directory, "positions.npy")
    }

    func testTwoDimensionalArraysGiveExactlyTheExpectedTrace() throws {
        try writeTopTwo()
        let trace = try RoutingTraceNPY.read(directory: directory)
        XCTAssertEqual(trace.expertCount, 3)
        XCTAssertEqual(trace.tokenCount, 3)
        XCTAssertEqual(trace.labels, [4, 1, -1])
        XCTAssertEqual(trace.classCount, 5)
        XCTAssertEqual(trace.positions, [0, 1, 2])
        XCTAssertEqual(trace.layers.count, 1)
        let layer = trace.layers[0]
        XCTAssertEqual(layer.layer, 0)
        XCTAssertEqual(layer.offsets, [0, 2, 3, 3])
        XCTAssertEqual(layer.experts, [2, 0, 1])
        XCTAssertEqual(layer.weights, [0.75, 0.25, 1.0])
        XCTAssertNil(layer.topProbability)
        XCTAssertNil(layer.probabilities)
        XCTAssertEqual(trace.metadata["sourceFormat"], "npy")
        XCTAssertNil(trace.metadata["importNotes"])
    }

    /// meta.json's `experts` is the expert count when none is given: no inference, no warning, an
    /// unused last expert kept; an expert beyond it, or probs.npy of another width, is an error
    /// naming the field.
    func testMetaJSONStatesTheExpertCount() throws {
        try writeTopTwo()
        try Data(#"{"experts": 5}"#.utf8).write(to: URL(fileURLWithPath: path("meta.json")))
        let trace = try RoutingTraceNPY.read(directory: directory)
        XCTAssertEqual(trace.expertCount, 5)
        XCTAssertNil(trace.metadata["importWarnings"])
        XCTAssertEqual(try RoutingTraceNPY.read(directory: directory, expertCount: nil).expertCount, 5)
        assertInputError(try RoutingTraceNPY.read(directory: directory, expertCount: 4), file: path("meta.json"),
                         location: "field 'experts'", message: "5 experts, but the arrays have 4")
        try Data(#"{"experts": 2}"#.utf8).write(to: URL(fileURLWithPath: path("meta.json")))
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("experts.npy"),
                         location: "element [0, 0]", message: "expert 2 is not below the expert count of meta.json ('experts'), 2")
        try Data(#"{"experts": 4}"#.utf8).write(to: URL(fileURLWithPath: path("meta.json")))
        try writeTopTwo(probs: true)
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("meta.json"),
                         location: "field 'experts'", message: "4 experts, but the arrays have 3")
    }

    func testGroupsGiveRoutingGroups() throws {
        try writeTopTwo()
        try put(npy([Int64(7), 7, 3], shape: [3], descr: "<i8"), directory, "groups.npy")
        XCTAssertEqual(try RoutingTraceNPY.read(directory: directory).routingGroups, [2, 1])
        try put(npy([Int32(0), 1, 0], shape: [3], descr: "<i4"), directory, "groups.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("groups.npy"),
                         location: "element [2]", message: "group 0 continues after other groups")
        try put(npy([Int32(0), -1, 1], shape: [3], descr: "<i4"), directory, "groups.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("groups.npy"),
                         location: "element [1]", message: "-1 is not a routing group number")
        try put(npy([Int32(0), 0], shape: [2], descr: "<i4"), directory, "groups.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("groups.npy"),
                         message: "shape [2], expected (3,)")
        try FileManager.default.removeItem(atPath: path("groups.npy"))
        XCTAssertNil(try RoutingTraceNPY.read(directory: directory).routingGroups)
    }

    func testProbabilitiesGiveTopPreferredAndEntropy() throws {
        try writeTopTwo(weights: false, probs: true)
        let trace = try RoutingTraceNPY.read(directory: directory)
        let layer = trace.layers[0]
        XCTAssertEqual(layer.weights, [0.5, 0.5, 1.0])
        XCTAssertTrue(trace.metadata["importNotes"]?.contains("weight 1/m") ?? false)
        XCTAssertEqual(layer.probabilities, [0.25, 0.0, 0.75, 0.5, 0.5, 0.0, 0.125, 0.125, 0.75])
        XCTAssertEqual(layer.topProbability, [0.75, 0.5, 0.75])
        XCTAssertEqual(layer.preferredExpert, [2, 0, 2])
        let h0 = -(0.25 * log(0.25) + 0.75 * log(0.75))
        let h2 = -(2 * 0.125 * log(0.125) + 0.75 * log(0.75))
        XCTAssertEqual(Double(layer.routerEntropy![0]), h0, accuracy: 1e-6)
        XCTAssertEqual(Double(layer.routerEntropy![1]), log(2), accuracy: 1e-6)
        XCTAssertEqual(Double(layer.routerEntropy![2]), h2, accuracy: 1e-6)
    }

    func testProbabilitiesThatAreNotDistributionsGetNoEntropy() throws {
        try put(npy([Int32(0), 1], shape: [2, 1], descr: "<i4"), directory, "experts.npy")
        try put(npy(floats: [0.9, 0.8, 0.1, 0.7], shape: [2, 2]), directory, "probs.npy")
        let trace = try RoutingTraceNPY.read(directory: directory)
        XCTAssertNil(trace.layers[0].routerEntropy)
        XCTAssertEqual(trace.layers[0].topProbability, [0.9, 0.7])
        XCTAssertTrue(trace.metadata["importNotes"]?.contains("token 0 sum to") ?? false)
    }

    /// Files are read in chunks from disk (``NPYArray/open(_:)``): the same elements as a whole
    /// read, at any chunk size, and a gzip file (which cannot be read at an offset) read whole.
    func testChunkedReadingGivesTheWholeFilesElements() throws {
        let values = (0..<1_000).map { Int64($0 * 7919 % 1_009) - 3 }
        try put(npy(values, shape: [10, 100], descr: "<i8"), directory, "a.npy")
        let streamed = try NPYArray.open(path("a.npy"))
        XCTAssertEqual(streamed.streamPath, path("a.npy"))
        XCTAssertTrue(streamed.storage.isEmpty)
        XCTAssertEqual(try streamed.integers(role: "x"), values.map(Int.init))
        XCTAssertEqual(try NPYArray.read(path("a.npy")).integers(role: "x"), values.map(Int.init))
        var chunks: [[Int]] = [], firsts: [Int] = []
        try streamed.forEachIntegerChunk(5..<40, role: "x", chunk: 7) { first, v in
            firsts.append(first)
            chunks.append(Array(v))
        }
        XCTAssertEqual(firsts, [5, 12, 19, 26, 33])
        XCTAssertEqual(chunks.flatMap { $0 }, values[5..<40].map(Int.init))
        try put(try GzipFile.compress(npy(values, shape: [10, 100], descr: "<i8")), directory, "b.npy")
        let whole = try NPYArray.open(path("b.npy"))
        XCTAssertNil(whole.streamPath)
        XCTAssertEqual(try whole.integers(role: "x"), values.map(Int.init))
        // Preambles too short to hold a header length are refused, never read past.
        for short in [[0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0x10, 0], [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0x10, 0, 0],
                      [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1]] as [[UInt8]] {
            try put(short, directory, "s.npy")
            assertInputError(try NPYArray.open(path("s.npy")), file: path("s.npy"), message: "truncated")
        }
        // A file shorter than its shape says is refused before any element is read.
        let full = npy(values, shape: [10, 100], descr: "<i8")
        try put(Array(full[0..<(full.count - 8)]), directory, "c.npy")
        assertInputError(try NPYArray.open(path("c.npy")), file: path("c.npy"), location: "byte \(full.count - 8)",
                         message: "truncated")
    }

    /// Layers read one, two or three rows at a time give the trace of one read, and a bad value
    /// in a later chunk is named by its own element.
    func testChunksOfRowsGiveTheSameTrace() throws {
        let experts: [Int32] = [0, 1, 2, 3, 1, 0, 3, 2, 2, 0, -1, -1, 3, 1, 0, 2, 1, 3, 2, 0]   // 2 layers × 5 tokens × 2
        try put(npy(experts, shape: [2, 5, 2], descr: "<i4"), directory, "experts.npy")
        try put(npy(floats: (0..<20).map { Double($0 % 7) / 8 }, shape: [2, 5, 2]), directory, "weights.npy")
        let probs = (0..<40).map { i in Double((i * 5) % 4 + 1) / 10 }   // rows of 4 summing to 1
        try put(npy(floats: probs, shape: [2, 5, 4]), directory, "probs.npy")
        let whole = try RoutingTraceNPY.read(directory: directory)
        XCTAssertEqual(whole.layers[0].offsets, [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(whole.layers[1].offsets, [0, 0, 2, 4, 6, 8])
        for rows in [1, 2, 3] {
            XCTAssertEqual(try RoutingTraceNPY.read(directory: directory, expertCount: nil, maximumKeptProbabilities: 1 << 29,
                                                    rowsPerChunk: rows), whole, "\(rows) rows per chunk")
        }
        var bad = probs
        bad[4 * 7 + 2] = 1.5   // layer 1, token 2
        try put(npy(floats: bad, shape: [2, 5, 4]), directory, "probs.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory, expertCount: nil, maximumKeptProbabilities: 1 << 29,
                                                  rowsPerChunk: 2),
                         file: path("probs.npy"), location: "element [1, 2, 2]", message: "probability 1.5")
        try put(npy(floats: probs, shape: [2, 5, 4]), directory, "probs.npy")
        var repeated = experts
        repeated[2 * 8 + 1] = repeated[2 * 8]   // layer 1, token 3: the same expert twice
        try put(npy(repeated, shape: [2, 5, 2], descr: "<i4"), directory, "experts.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory, expertCount: nil, maximumKeptProbabilities: 1 << 29,
                                                  rowsPerChunk: 2),
                         file: path("experts.npy"), location: "element [1, 3, 1]", message: "appears twice for token 3")
    }

    /// Probabilities beyond the size kept whole leave each token its top probability, preferred
    /// expert and entropy, the same as when kept, and say so.
    func testProbabilitiesBeyondTheKeptSizeKeepPerTokenValues() throws {
        try writeTopTwo(weights: false, probs: true)
        let kept = try RoutingTraceNPY.read(directory: directory)
        let dropped = try RoutingTraceNPY.read(directory: directory, maximumKeptProbabilities: 8)
        XCTAssertNotNil(kept.layers[0].probabilities)
        XCTAssertNil(dropped.layers[0].probabilities)
        XCTAssertEqual(dropped.layers[0].topProbability, kept.layers[0].topProbability)
        XCTAssertEqual(dropped.layers[0].preferredExpert, kept.layers[0].preferredExpert)
        XCTAssertEqual(dropped.layers[0].routerEntropy, kept.layers[0].routerEntropy)
        XCTAssertTrue(dropped.metadata["importNotes"]?.contains("probs.npy holds 9 values, more than the 8 kept") ?? false)
        XCTAssertEqual(try RoutingTraceNPY.read(directory: directory, maximumKeptProbabilities: 9).layers[0].probabilities,
                       kept.layers[0].probabilities)
    }

    /// `shared_gate.npy` gives each layer's shared-expert gate per token, checked by element.
    func testSharedGates() throws {
        try writeTopTwo()
        try put(npy(floats: [0.25, 0.5, 1.0], shape: [3]), directory, "shared_gate.npy")
        XCTAssertEqual(try RoutingTraceNPY.read(directory: directory).layers[0].sharedGate, [0.25, 0.5, 1.0])
        try put(npy(floats: [0.25, 1.5, 1.0], shape: [3]), directory, "shared_gate.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("shared_gate.npy"),
                         location: "element [1]", message: "shared-expert gate 1.5 is not a finite number in [0, 1]")
        try put(npy(floats: [0.25, 0.5, 1.0], shape: [1, 3]), directory, "shared_gate.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("shared_gate.npy"),
                         message: "shape [1, 3], expected (3,)")
    }

    /// `domains.npy` gives each token's domain, `meta.json`'s `domain_names` their names.
    func testDomainsAndTheirNames() throws {
        try writeTopTwo()
        try put(npy([Int32(1), 0, 1], shape: [3], descr: "<i4"), directory, "domains.npy")
        try Data(#"{"domain_names": ["code", "prose"]}"#.utf8).write(to: URL(fileURLWithPath: path("meta.json")))
        let trace = try RoutingTraceNPY.read(directory: directory)
        XCTAssertEqual(trace.domains, [1, 0, 1])
        XCTAssertEqual(trace.domainNames, ["code", "prose"])
        try Data(#"{"domain_names": ["code"]}"#.utf8).write(to: URL(fileURLWithPath: path("meta.json")))
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("meta.json"),
                         location: "field 'domain_names'", message: "1 names for the domains 0…1 of domains.npy")
        try FileManager.default.removeItem(atPath: path("meta.json"))
        try put(npy([Int32(1), -1, 1], shape: [3], descr: "<i4"), directory, "domains.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("domains.npy"),
                         location: "element [1]", message: "-1 is not in 0…65535")
    }

    /// Labels are 32-bit (token ids of any vocabulary); beyond 2³¹ − 2 they are refused by
    /// element, never wrapped.
    func testLabelsAre32Bit() throws {
        try writeTopTwo()
        try put(npy([Int64(151_935), 2_147_483_646, -1], shape: [3], descr: "<i8"), directory, "labels.npy")
        let trace = try RoutingTraceNPY.read(directory: directory)
        XCTAssertEqual(trace.labels, [151_935, 2_147_483_646, -1])
        XCTAssertEqual(trace.classCount, Int(Int32.max))
        try put(npy([Int64(0), 1 << 31, 1], shape: [3], descr: "<i8"), directory, "labels.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("labels.npy"),
                         location: "element [1] (byte 136)", message: "2147483648 is not in −1…2147483646")
    }

    func testThreeDimensionalArraysGiveOneLayerEach() throws {
        try put(npy([Int32(0), 1, 3, -1, 2, 2 - 2, 1, 3], shape: [2, 2, 2], descr: "<i4"), directory, "experts.npy")
        try put(npy(floats: Array(repeating: 0.25, count: 16), shape: [2, 2, 4]), directory, "probs.npy")
        let trace = try RoutingTraceNPY.read(directory: directory)
        XCTAssertEqual(trace.expertCount, 4)
        XCTAssertEqual(trace.layers.map(\.layer), [0, 1])
        XCTAssertEqual(trace.layers[0].offsets, [0, 2, 3])
        XCTAssertEqual(trace.layers[0].experts, [0, 1, 3])
        XCTAssertEqual(trace.layers[0].weights, [0.5, 0.5, 1])
        XCTAssertEqual(trace.layers[1].offsets, [0, 2, 4])
        XCTAssertEqual(trace.layers[1].experts, [2, 0, 1, 3])
        XCTAssertEqual(trace.layers[1].preferredExpert, [0, 0])
        XCTAssertEqual(Double(trace.layers[1].routerEntropy![1]), log(4), accuracy: 1e-6)
    }

    func testErrorsNameTheFileElementAndValue() throws {
        func check(_ file: String, location: String? = nil, _ message: String, line: UInt = #line) {
            assertInputError(try RoutingTraceNPY.read(directory: directory), file: path(file), location: location,
                             message: message, line: line)
        }
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: directory, message: "no experts.npy")

        try writeTopTwo(probs: true)
        try put(npy([Int64(2), 0, 1, -1, 3, -1], shape: [3, 2], descr: "<i8"), directory, "experts.npy")
        check("experts.npy", location: "element [2, 0]", "expert 3 is not below the expert count of probs.npy, 3")
        try put(npy([Int64(2), 2, 1, -1, -1, -1], shape: [3, 2], descr: "<i8"), directory, "experts.npy")
        check("experts.npy", location: "element [0, 1]", "expert 2 appears twice for token 0")
        try put(npy(floats: [2, 0, 1, -1, -1, -1], shape: [3, 2]), directory, "experts.npy")
        check("experts.npy", "must be integers, found float32")
        try put(npy([Int64(2), 0, 1, -1, -1, -1], shape: [1, 3, 2], descr: "<i8"), directory, "experts.npy")
        check("weights.npy", "shape [3, 2] differs from experts.npy's [1, 3, 2]")
        try put(npy(floats: [0.75, 0.25, 1.0, 0.0, 0.5, 0.5], shape: [1, 3, 2]), directory, "weights.npy")
        check("probs.npy", "does not match experts.npy's [1, 3, 2]; expected 1 × 3 × E")
        try put(npy([Int64(2), 0, 1, -1, -1, -1], shape: [3, 2], descr: "<i8"), directory, "experts.npy")

        try put(npy(floats: [0.75, -0.25, 1.0, 0.0, 0.5, 0.5], shape: [3, 2]), directory, "weights.npy")
        check("weights.npy", location: "element [0, 1] (byte", "combine weight -0.25")
        try put(npy(floats: [0.75, 0.25, 1.0, 0.0], shape: [2, 2]), directory, "weights.npy")
        check("weights.npy", "shape [2, 2] differs from experts.npy's [3, 2]")
        try FileManager.default.removeItem(atPath: path("weights.npy"))

        try put(npy(floats: [0.25, 0.0, 0.75, 0.5, 1.5, 0.0, 0.125, 0.125, 0.75], shape: [3, 3]), directory, "probs.npy")
        check("probs.npy", location: "element [1, 1]", "probability 1.5")
        try FileManager.default.removeItem(atPath: path("probs.npy"))

        try put(npy([Int32(4), 1], shape: [2], descr: "<i4"), directory, "labels.npy")
        check("labels.npy", "shape [2], expected (3,)")
        try put(npy([Int32(4), -7, 1], shape: [3], descr: "<i4"), directory, "labels.npy")
        check("labels.npy", location: "element [1]", "-7 is not in −1…")
        try put(npy(floats: [1, 2, 3], shape: [3]), directory, "labels.npy")
        check("labels.npy", "must be integers")
        try put(npy([Int32(4), 1, -1], shape: [3], descr: "<i4"), directory, "labels.npy")

        try put(npy([Int64(0), -3, 2], shape: [3], descr: "<i8"), directory, "positions.npy")
        check("positions.npy", location: "element [1]", "-3")
        try FileManager.default.removeItem(atPath: path("positions.npy"))

        assertInputError(try RoutingTraceNPY.read(directory: directory, expertCount: 2), file: path("experts.npy"),
                         location: "element [0, 0]", message: "expert 2 is not below the given expert count, 2")
        try put(npy([Int64(-1), -1], shape: [2, 1], descr: "<i8"), directory, "experts.npy")
        try FileManager.default.removeItem(atPath: path("labels.npy"))
        check("experts.npy", "expert count is unknown")
        XCTAssertEqual(try RoutingTraceNPY.read(directory: directory, expertCount: 4).layers[0].offsets, [0, 0, 0])
        try put(npy([Int64(1)], shape: [1], descr: "<i8"), directory, "experts.npy")
        check("experts.npy", "expected 2 (tokens × k) or 3")
    }
}

/// Files written by numpy 2.4 itself (`np.save` and `np.lib.format.write_array` with
/// versions 2.0 and 3.0), base64-encoded, so the reader is checked against the real thing.
final class NumpyWrittenFileTests: XCTestCase {
    static let experts = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoCAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAD///////////////////////////////8="
    static let probsV2 = "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA+AAAAAAAAQD8AAAA/AAAAPwAAAAAAAAA+AAAAPgAAQD8="
    static let labelsV3 = "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8aTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoEAAAAAQAAAP////8="
    static let weightsF64 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADoPwAAAAAAANA/AAAAAAAA8D8AAAAAAAAAAAAAAAAAAOA/AAAAAAAA4D8="
    static let fortran = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AACAPwAAgD8AAIA/AACAPwAAgD8="
    static let bigEndian = "k05VTVBZAQB2AHsnZGVzY3InOiAnPmk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAABAAAAAg=="

    func bytes(_ base64: String) -> [UInt8] { Array(Data(base64Encoded: base64)!) }

    func testNumpyFilesMakeTheExpectedTrace() throws {
        let directory = try makeTemporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try put(bytes(Self.experts), directory, "experts.npy")
        try put(bytes(Self.probsV2), directory, "probs.npy")
        try put(bytes(Self.labelsV3), directory, "labels.npy")
        try put(bytes(Self.weightsF64), directory, "weights.npy")
        let trace = try TraceLoader.load(directory)
        XCTAssertEqual(trace.expertCount, 3)
        XCTAssertEqual(trace.labels, [4, 1, -1])
        XCTAssertEqual(trace.layers[0].offsets, [0, 2, 3, 3])
        XCTAssertEqual(trace.layers[0].experts, [2, 0, 1])
        XCTAssertEqual(trace.layers[0].weights, [0.75, 0.25, 1.0])
        XCTAssertEqual(trace.layers[0].topProbability, [0.75, 0.5, 0.75])
        XCTAssertEqual(trace.layers[0].preferredExpert, [2, 0, 2])
    }

    func testNumpyFortranAndBigEndianFilesAreRefused() {
        assertInputError(try NPYArray.parse(bytes(Self.fortran), file: "f.npy"), file: "f.npy", message: "fortran_order is True")
        assertInputError(try NPYArray.parse(bytes(Self.bigEndian), file: "b.npy"), file: "b.npy", message: "big-endian")
    }
}
