import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

final class ExportMetadataTests: XCTestCase {
    func parse(_ json: String) throws -> ExportMetadata {
        try ExportMetadata.parse(Data(json.utf8), file: "meta.json")
    }

    func twoLayers() -> RoutingTrace {
        RoutingTrace(expertCount: 4, tokenCount: 2, layers: [
            LayerRouting(layer: 0, offsets: [0, 1, 2], experts: [0, 1], weights: [1, 1]),
            LayerRouting(layer: 1, offsets: [0, 1, 2], experts: [2, 3], weights: [1, 1]),
        ])
    }

    func testTheExportersFieldsAreApplied() throws {
        let meta = try parse("""
            {"format": "switchyard-hf-routing-export/1", "blocks": [1, 3], "experts": 4, "tokens": 2,
             "labels": "token ids", "groups": "sequence index", "shared_experts": {"count": 2, "gated": true},
             "model_type": "qwen2_moe", "k": 4, "torch": "2.15"}
            """)
        var trace = twoLayers()
        try meta.apply(to: &trace, file: "meta.json")
        XCTAssertEqual(trace.layers.map(\.layer), [1, 3])
        XCTAssertEqual(trace.kind, .sequences)
        XCTAssertEqual(trace.metadata["labelKind"], "token ids")
        XCTAssertEqual(trace.metadata["sharedExperts"], "2 (gated)")
        XCTAssertEqual(trace.metadata["model_type"], "qwen2_moe")
        try trace.validate()
        // Nothing said, nothing changed.
        var plain = twoLayers()
        try parse("{}").apply(to: &plain, file: "meta.json")
        XCTAssertEqual(plain, twoLayers())
        XCTAssertNil(plain.kind)
    }

    func testBadFieldsNameTheFieldAndValue() {
        assertInputError(try parse("[1, 2]"), file: "meta.json", message: "not a JSON object")
        assertInputError(try parse("{\"format\": \"other/2\"}"), file: "meta.json", location: "field 'format'", message: "'other/2'")
        assertInputError(try parse("{\"blocks\": [3, 1]}"), file: "meta.json", location: "field 'blocks'", message: "block 1 after block 3")
        assertInputError(try parse("{\"blocks\": [-1]}"), file: "meta.json", location: "field 'blocks'", message: "-1")
        assertInputError(try parse("{\"blocks\": []}"), file: "meta.json", location: "field 'blocks'", message: "empty")
        assertInputError(try parse("{\"blocks\": [1, \"x\"]}"), file: "meta.json", location: "field 'blocks[1]'", message: "not an integer")
        assertInputError(try parse("{\"experts\": true}"), file: "meta.json", location: "field 'experts'", message: "not an integer")
        assertInputError(try parse("{\"experts\": 0}"), file: "meta.json", location: "field 'experts'", message: "0")
        assertInputError(try parse("{\"shared_experts\": {\"gated\": true}}"), file: "meta.json",
                         location: "field 'shared_experts.count'", message: "missing")
        assertInputError(try parse("{\"labels\": 5}"), file: "meta.json", location: "field 'labels'", message: "not a string")
    }

    func testCountsThatDisagreeWithTheArraysAreRefused() throws {
        var trace = twoLayers()
        assertInputError(try parse("{\"blocks\": [1, 2, 3]}").apply(to: &trace, file: "m.json"), file: "m.json",
                         location: "field 'blocks'", message: "3 block numbers for the 2 layers")
        assertInputError(try parse("{\"experts\": 8}").apply(to: &trace, file: "m.json"), file: "m.json",
                         location: "field 'experts'", message: "8 experts, but the arrays have 4")
        assertInputError(try parse("{\"tokens\": 3}").apply(to: &trace, file: "m.json"), file: "m.json",
                         location: "field 'tokens'", message: "3 tokens, but the arrays have 2")
    }
}
