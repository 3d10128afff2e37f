import SwitchyardTestSupport
import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

/// Issue 22's input reproducers (items 4, 5, 13) and the streamed CSV import: truncated
/// gzip, absurd expert indices, inferred expert counts, unknown labels, special files, and
/// that streaming in chunks gives exactly the trace of an in-memory parse.
final class TraceInputBoundsTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(name) }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// `tokens` tokens in 2 layers, top-1 of 8 experts, labels of 10 classes.
    func csv(tokens: Int) -> String {
        "token,layer,expert,weight,label\n" + (0..<tokens).map { t in
            (0..<2).map { l in "\(t),\(l),\((t * 7 + l * 3) % 8),1,\(t % 10)\n" }.joined()
        }.joined()
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    // Item 5: the reproducer, a .csv.gz cut after about half of its 2,000 tokens, or
    // without the last 4 or 8 bytes, was analysed as if complete.
    func testTruncatedCSVGzIsRefusedNotReadAsShorterTrace() throws {
        let packed = try GzipFile.compress(Array(csv(tokens: 2000).utf8))
        XCTAssertEqual(try RoutingTraceCSV.read(try write(packed, "whole.csv.gz")).tokenCount, 2000)
        for keep in [packed.count / 2, packed.count - 4, packed.count - 8] {
            let file = try write(Array(packed[0..<keep]), "cut-\(keep).csv.gz")
            assertInputError(try TraceLoader.load(file), file: file, message: "the file is truncated")
        }
    }

    func testStreamingInSmallChunksGivesTheInMemoryTrace() throws {
        // Every column, CRLF and LF line ends, a BOM, blank lines, rows in no particular order.
        var text = "\u{FEFF}token,layer,expert,weight,label,position,prob,group\r\n"
        for t in stride(from: 299, through: 0, by: -1) {
            for l in [3, 1] {
                text += "\(t),\(l),\((t + l) % 6),0.75,\(t % 4),\(t % 17),0.75,\(t / 10)\r\n"
                text += "\(t),\(l),\((t + l + 1) % 6),0.25,\(t % 4),\(t % 17),0.25,\(t / 10)\n"
                if t % 50 == 0 { text += "\n" }
            }
        }
        let bytes = Array(text.utf8)
        let reference = try RoutingTraceCSV.parse(bytes, file: path("t.csv"))
        let file = try write(bytes, "t.csv")
        let gz = try write(try GzipFile.compress(bytes), "t.csv.gz")
        // Chunks of 64 bytes cut between \r and \n, inside rows' lines, everywhere.
        for chunk in [64, 65, 100, 4096, CSVText.chunkSize] {
            XCTAssertEqual(try RoutingTraceCSV.read(file, expertCount: nil, chunkSize: chunk), reference, "chunk \(chunk)")
        }
        var zipped = try RoutingTraceCSV.read(gz, expertCount: nil, chunkSize: 77)
        zipped.metadata["source"] = reference.metadata["source"]
        XCTAssertEqual(zipped, reference)
        XCTAssertEqual(reference.tokenCount, 300)
        XCTAssertEqual(reference.layers.map(\.layer), [1, 3])
        XCTAssertEqual(reference.routingGroups?.count, 30)
        // Errors name the same line whatever the chunks.
        let bad = try write(Array((text + "7,1,2,x,3,7,0.5,0\n").utf8), "bad.csv")
        // (Lines counted in bytes: "\r\n" is one Character.)
        let lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).count
        for chunk in [64, 4096] {
            assertInputError(try RoutingTraceCSV.read(bad, expertCount: nil, chunkSize: chunk), file: bad,
                             location: "line \(lines), column 'weight'", message: "'x' is not a number")
        }
        let conflict = try write(Array((text + "7,1,5,0.5,2,7,0.5,0\n").utf8), "conflict.csv")
        assertInputError(try RoutingTraceCSV.read(conflict, expertCount: nil, chunkSize: 64), file: conflict,
                         location: "column 'label'", message: "token 7 has label 2 here but 3 on line")
        // A file larger than the first buffer (64 KiB), which doubles up to the chunk size.
        let large = Array(csv(tokens: 6000).utf8)
        XCTAssertGreaterThan(large.count, 1 << 17)
        let largeFile = try write(large, "large.csv")
        var largeReference = try RoutingTraceCSV.parse(large, file: largeFile)
        for chunk in [1 << 16, 1 << 17, CSVText.chunkSize] {
            XCTAssertEqual(try RoutingTraceCSV.read(largeFile, expertCount: nil, chunkSize: chunk), largeReference, "chunk \(chunk)")
        }
        largeReference.metadata["source"] = path("large.csv.gz")
        XCTAssertEqual(try RoutingTraceCSV.read(try write(try GzipFile.compress(large), "large.csv.gz")), largeReference)
        // A line longer than a chunk.
        assertInputError(try RoutingTraceCSV.read(file, expertCount: nil, chunkSize: 16), file: file,
                         message: "a line longer than 16 bytes")
    }

    // Item 4: one row of expert 100000 (or 10000) among experts 0–7 made the statistics
    // allocate an E × E table of 80 GB (849 MB).
    func testAbsurdExpertIndexIsRefusedNamingLineAndValue() throws {
        for expert in [100_000, 10_000] {
            var lines = csv(tokens: 2000).split(separator: "\n").map(String.init)
            lines[999] = "499,0,\(expert),1,9"
            let file = try write(Array((lines.joined(separator: "\n") + "\n").utf8), "absurd-\(expert).csv")
            assertInputError(try RoutingTraceCSV.read(file), file: file, location: "line 1000, column 'expert'",
                             message: "expert \(expert) would make the expert count \(expert + 1), but only 9 distinct experts appear (the next largest is 7); the count inferred from the largest index may be at most 2 × 9 + 64 = 82")
            // The user's word overrides the bound.
            XCTAssertEqual(try RoutingTraceCSV.read(file, expertCount: expert + 1).expertCount, expert + 1)
        }
    }

    func testExpertCountBoundAllowsTracesThatLeaveExpertsUnused() throws {
        XCTAssertEqual(ExpertCountInference.largestInferable(distinctExperts: 9), 82)
        // Two distinct experts, 0 and 63: 64 ≤ 2·2 + 64.
        let sparse = try RoutingTraceCSV.parse(Array("token,layer,expert,weight\n0,0,0,1\n1,0,63,1\n".utf8), file: "s.csv")
        XCTAssertEqual(sparse.expertCount, 64)
        let warning = try XCTUnwrap(sparse.metadata["importWarnings"])
        XCTAssertTrue(warning.contains("expert count 64 inferred from the largest expert index 63"), warning)
        XCTAssertTrue(warning.contains("62 of the 64 experts never appear (1, 2, 3, 4, 5, 6, 7, 8, …)"), warning)
        // One more is refused.
        assertInputError(try RoutingTraceCSV.parse(Array("token,layer,expert,weight\n0,0,0,1\n1,0,68,1\n".utf8), file: "s.csv"),
                         file: "s.csv", location: "line 3, column 'expert'", message: "at most 2 × 2 + 64 = 68")
    }

    // A gzip bomb of one repeated row: refused after counting, before the arrays are allocated.
    func testOneRowRepeatedIsRefusedBeforeAllocating() throws {
        let text = "token,layer,expert,weight\n" + String(repeating: "0,0,0,1\n", count: 100_000)
        let file = try write(try GzipFile.compress(Array(text.utf8), level: 9), "bomb.csv.gz")
        assertInputError(try RoutingTraceCSV.read(file), file: file, location: "layer 0, token 0",
                         message: "100000 rows assign the token to an expert, more than the 1 experts")
    }

    // Issue 20: the count inferred from the largest index is announced; a given count is not.
    func testInferredExpertCountIsNotedAndAGivenOneIsNot() throws {
        let text = Array(csv(tokens: 20).utf8)
        let inferred = try RoutingTraceCSV.parse(text, file: "x.csv")
        XCTAssertEqual(inferred.expertCount, 8)
        XCTAssertEqual(inferred.metadata["importWarnings"],
                       "expert count 8 inferred from the largest expert index 7; if the model has more experts, give --experts E (an expert that never appears above 7 would be left out)")
        let given = try RoutingTraceCSV.parse(text, file: "x.csv", expertCount: 10)
        XCTAssertEqual(given.expertCount, 10)
        XCTAssertNil(given.metadata["importWarnings"])
    }

    func testAbsurdExpertInNPYIsRefusedNamingTheElement() throws {
        try put(npy([Int32(0), 1, 2, 100_000, 3, 4], shape: [6, 1], descr: "<i4"), directory, "experts.npy")
        assertInputError(try RoutingTraceNPY.read(directory: directory), file: path("experts.npy"),
                         location: "element [3, 0]", message: "expert 100000 would make the expert count 100001, but only 6 distinct experts appear")
        XCTAssertEqual(try RoutingTraceNPY.read(directory: directory, expertCount: 100_001).expertCount, 100_001)
        try put(npy([Int32(0), 1, 2, 5, 3, 4], shape: [6, 1], descr: "<i4"), directory, "experts.npy")
        let trace = try RoutingTraceNPY.read(directory: directory)
        XCTAssertEqual(trace.expertCount, 6)
        XCTAssertTrue(trace.metadata["importWarnings"]?.contains("expert count 6 inferred") ?? false)
    }

    // Issue 20: label −1 is documented as unknown; the trace keeps it, and the statistics
    // take the trace without labels (they compare the classes of all tokens), with a note.
    func testUnknownLabelsAreAcceptedAndLeaveOutOnlyClassStatistics() throws {
        let text = "token,layer,expert,weight,label\n0,0,0,1,-1\n1,0,1,1,0\n2,0,0,1,1\n3,0,1,1,\n"
        let trace = try RoutingTraceCSV.parse(Array(text.utf8), file: "u.csv")
        XCTAssertEqual(trace.labels, [-1, 0, 1, -1])
        XCTAssertEqual(trace.classCount, 2)
        XCTAssertEqual(trace.unknownLabelCount, 2)
        let (analysed, note) = trace.labelledForStatistics()
        XCTAssertNil(analysed.labels)
        XCTAssertEqual(analysed.classCount, 0)
        XCTAssertEqual(analysed.layers, trace.layers, "routing unchanged")
        XCTAssertEqual(note, "2 of 4 tokens have label −1 (unknown): analysed without class statistics (they compare the classes of all tokens); every other statistic covers all tokens")
        let allUnknown = try RoutingTraceCSV.parse(Array("token,layer,expert,weight,label\n0,0,0,1,-1\n".utf8), file: "a.csv")
        XCTAssertEqual(allUnknown.labelledForStatistics().note, "every token's label is −1 (unknown): analysed without class statistics")
        // A fully labelled trace is taken as it is.
        let known = try RoutingTraceCSV.parse(Array(csv(tokens: 5).utf8), file: "k.csv")
        XCTAssertEqual(known.labelledForStatistics().trace, known)
        XCTAssertNil(known.labelledForStatistics().note)
        XCTAssertEqual(sampleTrace(optional: true).unknownLabelCount, 1)
    }

    // Item 13: a FIFO blocked `analyze` forever.
    func testSpecialFilesAreRefusedByTheLoader() throws {
        let fifo = path("pipe.csv")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertInputError(try TraceLoader.load(fifo), file: fifo, message: "is a FIFO (named pipe), not a regular file")
        let sytrace = path("pipe.sytrace")
        XCTAssertEqual(mkfifo(sytrace, 0o600), 0)
        assertInputError(try RoutingTraceFile.read(sytrace), file: sytrace, message: "is a FIFO")
        assertInputError(try TraceLoader.load("/dev/zero"), file: "/dev/zero", message: "is a character device")
    }
}
