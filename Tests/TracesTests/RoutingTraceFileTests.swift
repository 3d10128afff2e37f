import XCTest
@testable import FileIO
@testable import Traces

final class RoutingTraceFileTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "switchyard-trace-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    /// Three tokens, two layers, three experts: token 1 dropped in layer 0, token 2 takes two experts.
    func sample(full: Bool) -> RoutingTrace {
        let layer0 = LayerRouting(layer: 0, offsets: [0, 1, 1, 3], experts: [2, 0, 1], weights: [0.9, 0.5, 0.25],
                                  topProbability: full ? [0.9, 0.8, 0.5] : nil, routerEntropy: full ? [0.3, 0.6, 1.0] : nil,
                                  probabilities: full ? [0.05, 0.05, 0.9, 0.8, 0.1, 0.1, 0.5, 0.25, 0.25] : nil,
                                  preferredExpert: full ? [2, 0, 0] : nil, capacity: full ? 2 : nil)
        let layer1 = LayerRouting(layer: 3, offsets: [0, 1, 2, 3], experts: [1, 1, 0], weights: [1, 1, 1])
        return RoutingTrace(expertCount: 3, tokenCount: 3, labels: full ? [4, 4, 1] : nil, positions: full ? [0, 1, 0] : nil,
                            classCount: full ? 10 : 0, classNames: full ? (0..<10).map(String.init) : [],
                            layers: [layer0, layer1], metadata: ["router": "test"])
    }

    func testRoundTripWithAndWithoutOptionalArraysAndGzip() throws {
        for full in [true, false] {
            for name in ["t.sytrace", "t.sytrace.gz"] {
                let path = directory + "/\(full)-\(name)"
                try RoutingTraceFile.write(sample(full: full), to: path)
                XCTAssertEqual(try RoutingTraceFile.read(path), sample(full: full))
                XCTAssertEqual(GzipFile.isGzip(path), name.hasSuffix(".gz"))
            }
        }
        XCTAssertEqual(sample(full: true).assignmentCount, 6)
        XCTAssertEqual(sample(full: true).layers[0].expertsPerToken(1), 0)
    }

    func testEveryCorruptionIsAnInputErrorNamingTheFile() throws {
        let path = directory + "/t.sytrace"
        try RoutingTraceFile.write(sample(full: true), to: path)
        let good = [UInt8](FileManager.default.contents(atPath: path)!)
        var cases: [(String, [UInt8])] = [("empty", []), ("magic", [0x41] + good.dropFirst())]
        for cut in [5, 20, good.count / 2, good.count - 1] { cases.append(("truncated at \(cut)", Array(good.prefix(cut)))) }
        for flip in [30, good.count / 2, good.count - 10] {
            var bytes = good
            bytes[flip] ^= 0x01
            cases.append(("flipped byte \(flip)", bytes))
        }
        for (label, bytes) in cases {
            XCTAssertThrowsError(try RoutingTraceFile.decode(bytes, file: "bad.sytrace"), label) { error in
                guard let input = error as? InputError else { return XCTFail("\(label): \(error)") }
                XCTAssertEqual(input.file, "bad.sytrace", label)
            }
        }
    }

    func testValidationNamesLayerTokenAndValue() {
        var trace = sample(full: true)
        trace.layers[0].experts[1] = 7
        XCTAssertThrowsError(try trace.validate(file: "x")) { XCTAssertTrue("\($0)".contains("layer 0") && "\($0)".contains("expert 7"), "\($0)") }
        trace = sample(full: true)
        trace.layers[1].weights[2] = -1
        XCTAssertThrowsError(try trace.validate(file: "x")) { XCTAssertTrue("\($0)".contains("weight -1"), "\($0)") }
        trace = sample(full: true)
        trace.layers[0].offsets = [0, 2, 1, 3]
        XCTAssertThrowsError(try trace.validate(file: "x")) { XCTAssertTrue("\($0)".contains("token 1"), "\($0)") }
        trace = sample(full: true)
        trace.labels = [4, 4, 12]
        XCTAssertThrowsError(try trace.validate(file: "x")) { XCTAssertTrue("\($0)".contains("labels[2]"), "\($0)") }
        XCTAssertNoThrow(try sample(full: false).validate())
    }
}
