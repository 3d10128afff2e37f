import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

final class TraceValidationTests: XCTestCase {
    func testSampleTracesAreValid() throws {
        try sampleTrace(optional: false).validate(file: "t")
        try sampleTrace(optional: true).validate(file: "t")
    }

    /// Each broken invariant gives an error naming the file, the place and the value.
    func testEveryInvariantIsChecked() {
        let base = sampleTrace(optional: true)
        func check(_ change: (inout RoutingTrace) -> Void, location: String, message: String,
                   line: UInt = #line) {
            var t = base
            change(&t)
            assertInputError(try t.validate(file: "trace.sytrace"), file: "trace.sytrace",
                             location: location, message: message, line: line)
        }
        check({ $0.expertCount = 0 }, location: "expertCount", message: "expert count is 0")
        check({ $0.expertCount = RoutingTrace.maximumExpertCount + 1 }, location: "expertCount", message: "1048577")
        check({ $0.tokenCount = -1 }, location: "tokenCount", message: "-1")
        check({ $0.classCount = -2 }, location: "classCount", message: "-2")
        check({ $0.classNames = ["a"] }, location: "classNames", message: "1 class names")
        check({ $0.labels = [0, 1] }, location: "labels", message: "2 labels for 5 tokens")
        check({ $0.labels![3] = 3 }, location: "labels[3]", message: "label 3")
        check({ $0.labels![1] = -2 }, location: "labels[1]", message: "label -2")
        check({ $0.positions = [0] }, location: "positions", message: "1 positions")
        check({ $0.positions![4] = -5 }, location: "positions[4]", message: "-5")
        check({ $0.routingGroups = [3, 0, 2] }, location: "routingGroups[1]", message: "group of 0 tokens")
        check({ $0.routingGroups = [3, 3] }, location: "routingGroups[1]", message: "group of 3 tokens, but only 2 of the trace's 5 tokens remain")
        check({ $0.routingGroups = [1, Int.max] }, location: "routingGroups[1]", message: "group of \(Int.max) tokens, but only 4")
        check({ $0.routingGroups = [3, 1] }, location: "routingGroups", message: "2 routing groups hold 4 tokens, the trace has 5")
        check({ $0.routingGroups = [] }, location: "routingGroups", message: "0 routing groups hold 0 tokens")
        check({ $0.layers = [] }, location: "layers", message: "no layer")
        check({ $0.layers[1].layer = 1 }, location: "layers[1].layer", message: "block number 1 does not follow 1")
        check({ $0.layers[0].layer = -1 }, location: "layers[0].layer", message: "block number -1 is negative")
        check({ $0.layers[1].offsets.removeLast() }, location: "layer 3 (entry 1), offsets", message: "5 offsets, expected token count + 1 = 6")
        check({ $0.layers[1].offsets[0] = 1 }, location: "layer 3 (entry 1), offsets[0]", message: "first offset is 1")
        check({ $0.layers[1].offsets[2] = 1 }, location: "layer 3 (entry 1), token 1, offsets[2]",
              message: "offset 1 is less than the previous offset 2")
        check({ $0.layers[1].offsets[4] = 10 }, location: "layer 3 (entry 1), token 4, offsets[5]",
              message: "offset 9 is less than the previous offset 10")
        check({ $0.layers[1].offsets[5] = 8 }, location: "layer 3 (entry 1), offsets[5]", message: "last offset is 8")
        check({ $0.layers[1].offsets[5] = 10 }, location: "layer 3 (entry 1), offsets[5]", message: "last offset is 10, expected the assignment count 9")
        check({ $0.layers[0].weights.removeLast() }, location: "layer 1 (entry 0), weights", message: "3 weights for 4")
        check({ $0.layers[1].experts[6] = 4 }, location: "layer 3 (entry 1), token 4, experts[6]", message: "expert 4 is outside 0..<4")
        check({ $0.layers[1].experts[6] = -1 }, location: "experts[6]", message: "expert -1")
        check({ $0.layers[1].experts[7] = 1 }, location: "layer 3 (entry 1), token 4, experts[7]", message: "expert 1 appears twice")
        check({ $0.layers[1].weights[2] = -0.5 }, location: "layer 3 (entry 1), token 1, weights[2]", message: "-0.5")
        check({ $0.layers[1].weights[2] = .nan }, location: "weights[2]", message: "nan")
        check({ $0.layers[1].weights[2] = .infinity }, location: "weights[2]", message: "inf")
        check({ $0.layers[0].topProbability = [1] }, location: "layer 1 (entry 0), topProbability", message: "1 entries for 5 tokens")
        check({ $0.layers[0].topProbability![2] = 1.5 }, location: "topProbability[2]", message: "1.5")
        check({ $0.layers[0].topProbability![2] = .nan }, location: "topProbability[2]", message: "nan")
        check({ $0.layers[0].routerEntropy![1] = 1.5 }, location: "routerEntropy[1]", message: "1.5")
        check({ $0.layers[0].routerEntropy![1] = -0.1 }, location: "routerEntropy[1]", message: "-0.1")
        check({ $0.layers[0].routerEntropy = [] }, location: "routerEntropy", message: "0 entries")
        check({ $0.layers[0].probabilities!.removeLast() }, location: "probabilities", message: "19 entries")
        check({ $0.layers[0].probabilities![6] = -0.25 }, location: "layer 1 (entry 0), token 1, probabilities[6]",
              message: "probability -0.25 of expert 2")
        check({ $0.layers[0].preferredExpert![0] = 9 }, location: "preferredExpert[0]", message: "preferred expert 9")
        check({ $0.layers[0].preferredExpert![0] = -2 }, location: "preferredExpert[0]", message: "preferred expert -2")
        check({ $0.layers[0].preferredExpert = [0] }, location: "preferredExpert", message: "1 entries")
        check({ $0.layers[0].capacity = -3 }, location: "capacity", message: "capacity -3")
    }

    /// Long rows (more than 16 experts) go through the sorting duplicate check.
    func testDuplicatesInLongRowsAreFound() throws {
        let experts = (0..<40).map { Int32($0) }
        var trace = RoutingTrace(expertCount: 64, tokenCount: 1, layers: [
            LayerRouting(layer: 0, offsets: [0, 40], experts: experts, weights: [Float](repeating: 0.025, count: 40)),
        ])
        try trace.validate()
        trace.layers[0].experts[33] = 5
        assertInputError(try trace.validate(file: "x"), file: "x", location: "token 0, experts[33]",
                         message: "expert 5 appears twice")
    }

    func testUnknownLabelsAndPositionsAreAllowed() throws {
        var trace = sampleTrace(optional: true)
        trace.labels = [-1, -1, -1, -1, -1]
        trace.positions = [-1, 0, -1, 7, 1000]
        try trace.validate()
        trace.classCount = 0
        trace.classNames = []
        try trace.validate()
    }

    /// A token the router preferred no expert for (ReMoE with every gate 0) is recorded as −1,
    /// and the trace file keeps it: a ReMoE run of the results sweep failed writing its first
    /// trace when −1 was refused.
    func testNoPreferredExpertIsAllowedAndKept() throws {
        var trace = sampleTrace(optional: true)
        trace.layers[0].preferredExpert![1] = -1
        try trace.validate()
        let directory = try makeTemporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("remoe.sytrace")
        try RoutingTraceFile.write(trace, to: path)
        XCTAssertEqual(try RoutingTraceFile.read(path).layers[0].preferredExpert?[1], -1)
    }
}
