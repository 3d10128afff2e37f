import SwitchyardTestSupport
import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces

final class RoutingTraceCSVTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(name) }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func parse(_ text: String, expertCount: Int? = nil) throws -> RoutingTrace {
        try RoutingTraceCSV.parse(Array(text.utf8), file: "in.csv", expertCount: expertCount)
    }

    let handWritten = """
        layer,token,expert,weight,label,prob
        0,0,2,0.6,1,0.6
        0,0,1,0.4,1,0.3
        0,2,3,1.0,0,0.9
        1,0,0,1,1,0.8
        1,1,-1,,2,0.55
        1,2,3,0.5,0,0.5

        """

    func testHandWrittenCSVGivesExactlyTheExpectedTrace() throws {
        let trace = try parse(handWritten)
        XCTAssertEqual(trace.expertCount, 4)
        XCTAssertEqual(trace.tokenCount, 3)
        XCTAssertEqual(trace.labels, [1, 2, 0])
        XCTAssertEqual(trace.classCount, 3)
        XCTAssertNil(trace.positions)
        XCTAssertEqual(trace.layers.map(\.layer), [0, 1])
        XCTAssertEqual(trace.layers[0].offsets, [0, 2, 2, 3])
        XCTAssertEqual(trace.layers[0].experts, [2, 1, 3])
        XCTAssertEqual(trace.layers[0].weights, [0.6, 0.4, 1.0])
        // Token 1 has no row in layer 0, so that layer has no top probability (and says why).
        XCTAssertNil(trace.layers[0].topProbability)
        XCTAssertTrue(trace.metadata["importNotes"]?.contains("layer 0: no top probability, 1 of 3 tokens") ?? false)
        XCTAssertEqual(trace.layers[1].offsets, [0, 1, 1, 2])
        XCTAssertEqual(trace.layers[1].experts, [0, 3])
        XCTAssertEqual(trace.layers[1].weights, [1, 0.5])
        XCTAssertEqual(trace.layers[1].topProbability, [0.8, 0.55, 0.5])
        XCTAssertEqual(trace.metadata["source"], "in.csv")
        XCTAssertEqual(trace.metadata["sourceFormat"], "csv")
    }

    func testColumnOrderLineEndingsBOMAndGzipDoNotMatter() throws {
        let reference = try parse(handWritten)
        let reordered = """
            prob , weight,expert,token,label,layer\r
            0.6,0.6,2,0,1,0\r
            0.3,0.4,1,0,1.0,0\r
            0.9,1.0,3,2,0,0\r
            \r
            0.8,1,0,0,1,1\r
            0.55,,-1,1,2,1\r
            0.5,5e-1,3,2,0,1
            """
        var bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(reordered.utf8)
        XCTAssertEqual(try RoutingTraceCSV.parse(bytes, file: "in.csv"), reference)
        bytes = try GzipFile.compress(Array(handWritten.utf8))
        try put(bytes, directory, "trace.csv.gz")
        var fromGzip = try RoutingTraceCSV.read(path("trace.csv.gz"))
        XCTAssertEqual(fromGzip.metadata["source"], path("trace.csv.gz"))
        fromGzip.metadata = reference.metadata
        XCTAssertEqual(fromGzip, reference)
    }

    func testGivenExpertCountAndPositions() throws {
        let trace = try parse("token,layer,expert,weight,position\n1,4,0,1,7\n0,4,1,0.5,0\n", expertCount: 6)
        XCTAssertEqual(trace.expertCount, 6)
        XCTAssertEqual(trace.positions, [0, 7])
        XCTAssertNil(trace.labels)
        XCTAssertEqual(trace.layers.map(\.layer), [4])
        XCTAssertEqual(trace.layers[0].offsets, [0, 1, 2])
        XCTAssertEqual(trace.layers[0].experts, [1, 0])
    }

    func testExportThenImportRoundTrips() throws {
        let plain = sampleTrace(optional: false)
        var back = try parse(try plain.csvText(), expertCount: 4)
        XCTAssertNil(back.metadata["importNotes"])
        back.metadata = [:]
        XCTAssertEqual(back, plain)

        let full = sampleTrace(optional: true)
        try RoutingTraceCSV.write(full, to: path("full.csv.gz"))
        let imported = try RoutingTraceCSV.read(path("full.csv.gz"), expertCount: 4)
        XCTAssertEqual(imported.labels, full.labels)
        XCTAssertEqual(imported.positions, full.positions)
        XCTAssertEqual(imported.classCount, 3)
        for (a, b) in zip(imported.layers, full.layers) {
            XCTAssertEqual(a.layer, b.layer)
            XCTAssertEqual(a.offsets, b.offsets)
            XCTAssertEqual(a.experts, b.experts)
            XCTAssertEqual(a.weights, b.weights)
            XCTAssertEqual(a.topProbability, b.topProbability)
        }
        XCTAssertNil(imported.metadata["importNotes"])
    }

    func testGroupColumnGivesRoutingGroups() throws {
        let text = """
            token,layer,expert,weight,group
            0,0,1,1,4
            1,0,0,1,4
            2,0,-1,,9
            3,0,1,1,2
            3,1,0,1,2

            """
        let trace = try parse(text)
        XCTAssertEqual(trace.routingGroups, [2, 1, 1])
        // Export writes the groups' indices and reads back the same groups.
        let exported = try trace.csvText()
        XCTAssertTrue(exported.hasPrefix("token,layer,expert,weight,group\n0,0,1,1.0,0\n"), exported)
        XCTAssertEqual(try parse(exported).routingGroups, [2, 1, 1])
        // A group that returns after another, a token with no row, a group per row that
        // differs within a token, and a negative group are errors naming the place.
        assertInputError(try parse("token,layer,expert,weight,group\n0,0,1,1,0\n1,0,1,1,1\n2,0,1,1,0\n"),
                         file: "in.csv", location: "line 4, column 'group'", message: "group 0 continues after other groups")
        assertInputError(try parse("token,layer,expert,weight,group\n0,0,1,1,0\n2,0,1,1,0\n"),
                         file: "in.csv", location: "token 1", message: "token 1 has no row")
        assertInputError(try parse("token,layer,expert,weight,group\n0,0,1,1,0\n0,1,1,1,1\n"),
                         file: "in.csv", location: "line 3, column 'group'", message: "token 0 has group 1 here but 0 on line 2")
        assertInputError(try parse("token,layer,expert,weight,group\n0,0,1,1,-1\n"),
                         file: "in.csv", location: "line 2, column 'group'", message: "is not a routing group number")
        // Without the column, no groups; without groups, no column.
        XCTAssertNil(try parse(handWritten).routingGroups)
        XCTAssertFalse(try parse(handWritten).csvText().contains("group"))
    }

    func testExportedTextIsAsDocumented() throws {
        var trace = RoutingTrace(expertCount: 3, tokenCount: 2, labels: [1, 0], classCount: 2, layers: [
            LayerRouting(layer: 2, offsets: [0, 2, 2], experts: [2, 0], weights: [0.75, 0.25],
                         topProbability: [0.5, 0.9]),
        ])
        XCTAssertEqual(try trace.csvText(), """
            token,layer,expert,weight,label,prob
            0,2,2,0.75,1,0.5
            0,2,0,0.25,1,0.5
            1,2,-1,,0,0.9

            """)
        // With full probabilities each row carries its expert's probability, and a row
        // with expert -1 keeps a top probability that no assigned expert has.
        trace.layers[0].probabilities = [0.2, 0.3, 0.5, 0.9, 0.05, 0.05]
        trace.layers[0].topProbability = nil
        trace.layers[0].offsets = [0, 1, 2]
        trace.layers[0].experts = [1, 2]
        XCTAssertEqual(try trace.csvText(), """
            token,layer,expert,weight,label,prob
            0,2,1,0.75,1,0.3
            0,2,-1,,1,0.5
            1,2,2,0.25,0,0.05
            1,2,-1,,0,0.9

            """)
        trace.layers[0].experts = [1, 7]
        XCTAssertThrowsError(try trace.csvText())
    }

    func testHeaderErrors() {
        assertInputError(try parse("token,layer,expert,weight,score\n0,0,0,1,2\n"), file: "in.csv",
                         location: "line 1", message: "unknown column 'score'")
        assertInputError(try parse(",token,layer,expert,weight\n0,0,0,0,1\n"), file: "in.csv",
                         location: "line 1", message: "index=False")
        assertInputError(try parse("token,layer,weight\n0,0,1\n"), file: "in.csv",
                         location: "line 1", message: "missing required column 'expert'")
        assertInputError(try parse("token,layer,expert,weight,token\n"), file: "in.csv",
                         location: "line 1", message: "appears twice")
        assertInputError(try parse(""), file: "in.csv", location: "line 1", message: "the file is empty")
        assertInputError(try parse("\n0,0,0,1\n"), file: "in.csv", location: "line 1", message: "no header")
        assertInputError(try parse("token,layer,expert,weight\n\n"), file: "in.csv", message: "no data rows")
    }

    func testCellErrorsNameTheLineAndColumn() {
        let header = "token,layer,expert,weight,label,position,prob\n"
        let good = "0,0,1,0.5,2,3,0.5\n"
        func check(_ row: String, _ column: String, _ message: String, expertCount: Int? = nil, line: UInt = #line) {
            assertInputError(try parse(header + good + row, expertCount: expertCount), file: "in.csv",
                             location: "line 3, column '\(column)'", message: message, line: line)
        }
        check("x,0,1,0.5,2,3,0.5\n", "token", "'x' is not an integer")
        check("1.5,0,1,0.5,2,3,0.5\n", "token", "'1.5' is not an integer")
        check("-1,0,1,0.5,2,3,0.5\n", "token", "not a token number")
        check("1,,1,0.5,2,3,0.5\n", "layer", "is empty, expected an integer")
        check("1,0,one,0.5,2,3,0.5\n", "expert", "'one' is not an integer")
        check("1,0,1,abc,2,3,0.5\n", "weight", "'abc' is not a number")
        check("1,0,1,0.5x,2,3,0.5\n", "weight", "'0.5x' is not a number")
        check("1,0,1,-0.25,2,3,0.5\n", "weight", "'-0.25' is not a finite combine weight ≥ 0")
        check("1,0,1,nan,2,3,0.5\n", "weight", "not a finite combine weight")
        check("1,0,1,,2,3,0.5\n", "weight", "needs a combine weight")
        check("1,0,6,0.5,2,3,0.5\n", "expert", "'6' is not below the expert count 6", expertCount: 6)
        check("1,0,1,0.5,-3,3,0.5\n", "label", "not a class label")
        check("1,0,1,0.5,2147483647,3,0.5\n", "label", "'2147483647' is not a class label in 0…2147483646 or −1 (unknown)")
        check("1,0,1,0.5,2,-2,0.5\n", "position", "not a position")
        check("1,0,1,0.5,2,3,1.5\n", "prob", "'1.5' is not a probability in [0, 1]")
        check("1,0,1,0.5,2,3,p\n", "prob", "'p' is not a number")
        check("0,1,1,0.5,7,3,0.5\n", "label", "token 0 has label 7 here but 2 on line 2")
        check("0,1,1,0.5,2,4,0.5\n", "position", "token 0 has position 4 here but 3 on line 2")
        check("0,1,1,0.5,,3,0.5\n", "label", "token 0 has label -1 here but 2 on line 2")
    }

    /// A `domain` column gives each token's domain; every row of a token names the same one,
    /// and export writes it back.
    func testDomainColumn() throws {
        let text = "token,layer,expert,weight,group,domain\n0,0,1,1,0,2\n0,1,0,1,0,2\n1,0,0,1,1,0\n1,1,1,1,1,0\n"
        let trace = try parse(text)
        XCTAssertEqual(trace.domains, [2, 0])
        XCTAssertEqual(try parse(RoutingTraceCSV.text(trace)).domains, [2, 0])
        assertInputError(try parse("token,layer,expert,weight,domain\n0,0,1,1,2\n0,1,0,1,3\n"), file: "in.csv",
                         location: "line 3, column 'domain'", message: "token 0 has domain 3 here but 2 on line 2")
        assertInputError(try parse("token,layer,expert,weight,domain\n0,0,1,1,\n"), file: "in.csv",
                         location: "line 2, column 'domain'", message: "token 0 has no domain")
        assertInputError(try parse("token,layer,expert,weight,domain\n0,0,1,1,65536\n"), file: "in.csv",
                         location: "line 2, column 'domain'", message: "is not a domain in 0…65535")
    }

    /// Labels are 32-bit: token ids of any vocabulary (Qwen's 151,936) import as labels.
    func testLabelsAre32Bit() throws {
        let trace = try parse("token,layer,expert,weight,label\n0,0,1,1,151935\n1,0,0,1,2147483646\n")
        XCTAssertEqual(trace.labels, [151_935, 2_147_483_646])
        XCTAssertEqual(trace.classCount, Int(Int32.max))
    }

    func testRaggedRowsAndDuplicates() {
        let header = "token,layer,expert,weight\n"
        assertInputError(try parse(header + "0,0,1,0.5\n0,0,2\n"), file: "in.csv", location: "line 3",
                         message: "the row has 3 fields, the header has 4")
        assertInputError(try parse(header + "0,0,1,0.5,9,9\n"), file: "in.csv", location: "line 2",
                         message: "the row has 6 fields, the header has 4")
        assertInputError(try parse(header + "0,0,1,0.5\n1,0,1,1\n\n0,0,1,0.25\n"), file: "in.csv", location: "line 5",
                         message: "token 0, layer 0, expert 1 appears again (first on line 2)")
        assertInputError(try parse(header + "0,0,-1,\n"), file: "in.csv", message: "expert count is unknown")
        assertInputError(try parse(header + "0,0,1,0.5\n5000000,0,1,1\n"), file: "in.csv",
                         location: "line 3, column 'token'", message: "without large gaps")
        // 5000 layers × ~1,000,000 tokens from 10,000 rows: rejected before allocating.
        var sparse = header
        for r in 0..<5_000 { sparse += "\(r * 200),\(r),0,1\n\(r * 200 + 1),\(r),1,1\n" }
        assertInputError(try parse(sparse), file: "in.csv", location: "column 'layer'",
                         message: "5000 distinct layers × 999802 tokens for only 10000 rows")
        assertInputError(try RoutingTraceCSV.read(path("missing.csv")), file: path("missing.csv"), message: "no such file")
    }

    /// A quick sanity check of speed: 200,000 rows in a debug build.
    func testParsingIsFast() throws {
        var text = "token,layer,expert,weight,prob\n"
        text.reserveCapacity(200_000 * 24)
        for t in 0..<50_000 {
            for layer in 0..<2 {
                text += "\(t),\(layer),\(t % 8),0.75,0.75\n\(t),\(layer),\((t + 1) % 8),0.25,0.125\n"
            }
        }
        let bytes = Array(text.utf8)
        let start = Date()
        let trace = try RoutingTraceCSV.parse(bytes, file: "big.csv")
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(trace.assignmentCount, 200_000)
        XCTAssertEqual(trace.layers[1].experts[7], 4)
        XCTAssertEqual(trace.layers[1].topProbability?[3], 0.75)
        XCTAssertLessThan(seconds, 3.0)
    }
}
