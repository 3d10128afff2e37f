import Foundation
import SwitchyardCostModel
import SwitchyardFileIO
import SwitchyardTraces
import XCTest
@testable import SwitchyardCLI

/// `switchyard simulate` end to end.
final class SimulateCommandTests: XCTestCase {
    var root: String!
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../SwitchyardReportsTests/Fixtures/runs/expert-choice-s0").standardized.path

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-simulate-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func run(_ arguments: [String]) throws {
        var command = try SwitchyardCommand.parseAsRoot(arguments)
        try command.run()
    }

    func testJSONAndSavedPlacementRoundTrip() throws {
        try run(["simulate", fixture, "--devices", "2", "--placement", "balanced", "--capacity-factor", "1.0",
                 "--group-tokens", "170", "--json", root + "/sim.json", "--save-placement", root + "/placement.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/sim.json"))) as! [String: Any]
        let result = json["result"] as! [String: Any], contiguous = json["contiguous"] as! [String: Any]
        XCTAssertEqual(result["placement"] as? String, "balanced")
        XCTAssertEqual(contiguous["placement"] as? String, "contiguous")
        XCTAssertEqual(result["groupCount"] as? Int, 10)
        XCTAssertEqual(result["groupSource"] as? String, "group-tokens")
        let model = result["model"] as! [String: Any]
        XCTAssertEqual(model["hidden"] as? Int, 32, "the run's width from config.json")
        let layers = result["layers"] as! [[String: Any]]
        XCTAssertEqual(layers.count, 2)
        XCTAssertEqual((layers[0]["groups"] as! [Any]).count, 10)
        XCTAssertNotNil(layers[0]["volumeRows"])
        // The same numbers as the library on the same trace and placement.
        let trace = try TraceLoader.load(fixture)
        let placement = try PlacementFile.read(root + "/placement.json", trace: trace, devices: 2)
        let groups = try DispatchGroups(trace, groupTokens: 170)
        XCTAssertEqual(placement.devices, PlacementOptimizer.balanced(trace, devices: 2, groups: groups, capacityFactor: 1.0).devices)
        var options = SimulationOptions(devices: 2, capacityFactor: 1.0)
        options.model.hidden = 32
        options.model.ffnHidden = 64
        let direct = try ExpertParallelSimulation.run(trace, groups: groups, placement: placement, options: options)
        XCTAssertEqual(layers[0]["deviceRows"] as? [Int], direct.layers[0].deviceRows)
        XCTAssertEqual((result["overall"] as! [String: Any])["dropped"] as? Int, direct.overall.dropped)
        // The saved placement is accepted back.
        try run(["simulate", fixture, "--devices", "2", "--placement", root + "/placement.json", "--json", root + "/again.json"])
    }

    func testASoftRoutersTraceIsRefused() throws {
        var trace = try TraceLoader.load(fixture)
        trace.metadata["router.soft"] = "true"
        try RoutingTraceFile.write(trace, to: root + "/soft.sytrace")
        XCTAssertThrowsError(try run(["simulate", root + "/soft.sytrace", "--devices", "2", "--json", root + "/sim.json"])) {
            XCTAssertTrue(String(describing: $0).contains("holds a soft router's trace (metadata router.soft)"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/sim.json"))
    }

    func testBadInputIsAnInputErrorAndWritesNothing() throws {
        let out = root + "/out.json"
        let bad = root + "/bad.json"
        try "[0, 1, 2, 5]".write(toFile: bad, atomically: false, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--devices", "0"], "--devices: must be in 1…1024, got 0"),
            (["--devices", "1025"], "--devices: must be in 1…1024, got 1025"),
            (["--devices", "2", "--link-bandwidth=-1"], "--link-bandwidth: must be a finite number > 0, got -1.0"),
            (["--devices", "2", "--link-bandwidth", "inf"], "--link-bandwidth"),
            (["--devices", "2", "--device-flops", "nan"], "--device-flops"),
            (["--devices", "2", "--capacity-factor", "0"], "--capacity-factor"),
            (["--devices", "2", "--dispatch", "broadcast"], "--dispatch: expected per-expert or per-device, got 'broadcast'"),
            (["--devices", "2", "--group-tokens", "0"], "--group-tokens: must be ≥ 1, got 0"),
            (["--devices", "4", "--placement", bad], "bad.json: [3]: expert 3: device 5 is outside 0..<4 (--devices 4)"),
            (["--devices", "4", "--placement", root + "/none.json"], "none.json"),
        ]
        for (arguments, expected) in cases {
            XCTAssertThrowsError(try run(["simulate", fixture, "--json", out] + arguments), "\(arguments)") { error in
                XCTAssertTrue(error is InputError, "\(arguments): \(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(arguments): \(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written for \(arguments)")
        }
        let empty = root + "/empty.csv"
        try "token,layer,expert,weight\n0,0,-1,\n".write(toFile: empty, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try run(["simulate", empty, "--devices", "2", "--experts", "4", "--json", out])) { error in
            XCTAssertTrue("\(error)".contains("empty.csv: the trace has 1 tokens and 0 assignments: nothing to dispatch"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testTheExecutableExitsWithStatusOne() throws {
        let result = try BuiltExecutable.run(["simulate", fixture, "--devices", "2048"], in: root)
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.errors.contains("--devices: must be in 1…1024, got 2048"), result.errors)
        let ok = try BuiltExecutable.run(["simulate", fixture, "--devices", "4", "--placement", "balanced"], in: root)
        XCTAssertEqual(ok.status, 0, ok.errors)
        XCTAssertTrue(ok.output.contains("balanced versus contiguous"), ok.output)
    }
}
