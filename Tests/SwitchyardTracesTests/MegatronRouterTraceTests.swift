import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

/// Megatron-LM's router trace (router_trace.py's JSON Lines): the committed sample of two ranks
/// (Tests/Fixtures/megatron, written in that format), and bad records.
final class MegatronRouterTraceTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/megatron").standardized.path

    func testTheSampleOfTwoRanksImports() throws {
        let trace = try TraceLoader.load(Self.folder)
        XCTAssertEqual(trace.layers.map(\.layer), [2, 4])
        XCTAssertEqual(trace.routingGroups, [6, 8, 7, 9], "one group per (rank, step), rank 0 first")
        XCTAssertEqual(trace.tokenCount, 30)
        XCTAssertEqual(trace.expertCount, 8)
        XCTAssertEqual(trace.kind, .sequences)
        XCTAssertTrue(trace.metadata["importNotes"]?.contains("1 multi-token-prediction (mtp) records left out") == true)
        // Each layer's expert counts, recomputed from the JSON with JSONSerialization.
        var expected: [Int: [Int]] = [2: [Int](repeating: 0, count: 8), 4: [Int](repeating: 0, count: 8)]
        for rank in 0..<2 {
            let text = try String(contentsOfFile: Self.folder + "/router_trace_rank\(rank).jsonl", encoding: .utf8)
            for line in text.split(separator: "\n") {
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                guard record["block"] as? String == "decoder" else { continue }
                for row in record["top_indices"] as! [[Int]] { for e in row { expected[record["layer"] as! Int]![e] += 1 } }
            }
        }
        for layer in trace.layers {
            var counts = [Int](repeating: 0, count: 8)
            for e in layer.experts { counts[Int(e)] += 1 }
            XCTAssertEqual(counts, expected[layer.layer], "layer \(layer.layer)")
            XCTAssertTrue(layer.weights.allSatisfy { $0 == 0.5 }, "no weights recorded: 1/k each")
        }
        // One rank's file alone.
        let rank0 = try TraceLoader.load(Self.folder + "/router_trace_rank0.jsonl", expertCount: 8)
        XCTAssertEqual(rank0.routingGroups, [6, 8])
        XCTAssertNil(rank0.metadata["importWarnings"])
    }

    var directories: [String] = []
    override func tearDown() { for d in directories { try? FileManager.default.removeItem(atPath: d) } }

    func write(_ lines: [String]) throws -> String {
        let directory = try makeTemporaryDirectory(name)
        directories.append(directory)
        let path = (directory as NSString).appendingPathComponent("router_trace_rank0.jsonl")
        try lines.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    func record(step: Int = 0, layer: Int = 1, tokens: Int = 2, topk: Int = 2, rows: String = "[[0, 1], [2, 3]]") -> String {
        "{\"step\": \(step), \"block\": \"decoder\", \"layer\": \(layer), \"rank\": 0, \"num_tokens\": \(tokens), \"topk\": \(topk), \"top_indices\": \(rows)}"
    }

    func testBadRecordsNameTheLineAndField() throws {
        let shortRow = try write([record(rows: "[[0, 1], [2]]")])
        assertInputError(try MegatronRouterTrace.read(shortRow), file: shortRow, location: "line 1, field 'top_indices'",
                         message: "token 1 has 1 experts for topk 2")
        let rows = try write([record(tokens: 3)])
        assertInputError(try MegatronRouterTrace.read(rows), file: rows, location: "line 1, field 'top_indices'", message: "2 rows for num_tokens 3")
        let negative = try write([record(rows: "[[0, -1], [2, 3]]")])
        assertInputError(try MegatronRouterTrace.read(negative), file: negative, location: "line 1, field 'top_indices'", message: "expert -1")
        let twice = try write([record(rows: "[[1, 1], [2, 3]]")])
        assertInputError(try MegatronRouterTrace.read(twice), file: twice, location: "line 1, field 'top_indices'", message: "twice")
        let missing = try write(["{\"step\": 0, \"layer\": 1, \"topk\": 2, \"top_indices\": []}"])
        assertInputError(try MegatronRouterTrace.read(missing), file: missing, location: "line 1, field 'num_tokens'", message: "missing")
        let uneven = try write([record(layer: 1), record(layer: 2, tokens: 1, rows: "[[0, 1]]")])
        assertInputError(try MegatronRouterTrace.read(uneven), file: uneven, location: "line 2, field 'num_tokens'",
                         message: "1 tokens in layer 2 of step 0, but 2 in its other layers (line 1)")
        let repeated = try write([record(layer: 1), record(layer: 1)])
        assertInputError(try MegatronRouterTrace.read(repeated), file: repeated, location: "line 2, field 'layer'", message: "appears twice")
        let gap = try write([record(step: 0, layer: 1), record(step: 0, layer: 2), record(step: 1, layer: 1)])
        assertInputError(try MegatronRouterTrace.read(gap), file: gap, location: "step 1", message: "every step must route every MoE layer")
        let notJSON = try write(["step 0"])
        assertInputError(try MegatronRouterTrace.read(notJSON), file: notJSON, location: "line 1", message: "not a JSON object")
        let empty = try write([""])
        assertInputError(try MegatronRouterTrace.read(empty), file: empty, message: "no decoder records")
        let tooLarge = try write([record(rows: "[[0, 9], [2, 3]]")])
        assertInputError(try MegatronRouterTrace.read(tooLarge, expertCount: 8), file: tooLarge, location: "line 1, field 'top_indices'",
                         message: "expert 9 is outside 0…7")
    }
}
