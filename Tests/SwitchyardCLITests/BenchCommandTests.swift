import ArgumentParser
import XCTest
@testable import SwitchyardCLI
import SwitchyardTensorCore

/// `switchyard bench train` and `bench route` as a user runs them: smoke runs (seconds, not
/// measurements) and the errors for bad arguments.
final class BenchCommandTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func run(_ arguments: [String]) throws {
        var command = try SwitchyardCommand.parseAsRoot(arguments)
        try command.run()
    }

    func readJSON(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    func testBenchTrainSmokeWritesFinitePositiveNumbers() throws {
        let path = root + "/train.json"
        try run(["bench", "train", "--preset", "tiny", "--router", "switch", "--steps", "2", "--warmup", "1",
                 "--batch-size", "8", "--threads", "1", "--peak-size", "64", "--peak-repetitions", "1",
                 "--set", "model.experts=2", "--quiet", "--json", path])
        let json = try readJSON(path)
        for key in ["medianImagesPerSecond", "meanImagesPerSecond", "modelGFLOPS", "sgemmPeakGFLOPS", "shareOfPeak",
                    "trainingFLOPsPerImage"] {
            let value = try XCTUnwrap(json[key] as? Double, key)
            XCTAssertTrue(value.isFinite && value > 0, "\(key) = \(value)")
        }
        XCTAssertEqual(json["batchSize"] as? Int, 8)
        XCTAssertEqual(json["experts"] as? Int, 2, "--set reaches the model as in train")
        XCTAssertEqual(json["router"] as? String, "switch")
        XCTAssertEqual(json["blasKernels"] as? String, BLASKernels.summary)
        XCTAssertTrue((json["flopConvention"] as? String)?.contains("training = 3 × forward") ?? false)
    }

    func testBenchRouteSmokeOnATinyGrid() throws {
        let path = root + "/route.json"
        try run(["bench", "route", "--router", "expert-choice", "--tokens", "100,1000", "--width", "8",
                 "--experts", "2,4", "--k", "1,2", "--repetitions", "1", "--round-seconds", "0", "--threads", "1",
                 "--quiet", "--json", path])
        let json = try readJSON(path)
        // The OpenBLAS kernel set that ran the gate GEMMs, as in bench train's JSON.
        XCTAssertEqual(json["blasKernels"] as? String, BLASKernels.summary)
        let cells = try XCTUnwrap(json["cells"] as? [[String: Any]])
        XCTAssertEqual(cells.count, 8)
        for cell in cells {
            let value = try XCTUnwrap(cell["totalNanosecondsPerToken"] as? Double)
            XCTAssertTrue(value.isFinite && value > 0)
        }
    }

    func testBenchCoverageSmokeWritesCoverageAndNullCalibration() throws {
        // Three traces of the image-clustered null: coverage rows with Wilson bounds, and the
        // permutation and χ² calibration rows (numbers in docs/statistics.md come from 100+ traces).
        let json = root + "/coverage.json"
        try run(["bench", "coverage", "--traces", "3", "--bootstrap", "20", "--permutations", "20",
                 "--scenario", "7", "--json", json])
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [[String: Any]]
        XCTAssertEqual(results.count, 1)
        let rows = try XCTUnwrap(results[0]["coverage"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 12, "6 statistics × (layer 0, all layers)")
        for row in rows {
            let c = try XCTUnwrap(row["coverage"] as? Double), lo = try XCTUnwrap(row["coverage_lower"] as? Double)
            let hi = try XCTUnwrap(row["coverage_upper"] as? Double)
            XCTAssertTrue(lo <= c && c <= hi, "\(row)")
            XCTAssertEqual(row["intervals"] as? Int, 3)
        }
        let nulls = try XCTUnwrap(results[0]["null_calibration"] as? [[String: Any]])
        XCTAssertTrue(nulls.contains { ($0["test"] as? String) == "MI permutation" })
        XCTAssertTrue(nulls.contains { ($0["test"] as? String) == "layer transition MI permutation" })
    }

    func testBenchArgumentsAreValidated() throws {
        func rejects(_ arguments: [String], saying text: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try run(arguments), file: file, line: line) { error in
                let message = SwitchyardCommand.message(for: error)
                XCTAssertTrue(message.contains(text), "\(message)", file: file, line: line)
            }
        }
        rejects(["bench", "train", "--steps", "0"], saying: "--steps")
        rejects(["bench", "train", "--warmup", "-1"], saying: "--warmup")
        rejects(["bench", "train", "--peak-size", "-5"], saying: "--peak-size")
        rejects(["bench", "train", "--preset", "nope", "--steps", "1", "--peak-size", "0"], saying: "nope")
        rejects(["bench", "train", "--router", "nope", "--steps", "1", "--peak-size", "0"], saying: "nope")
        rejects(["bench", "train", "--set", "model.heads=3", "--steps", "1", "--peak-size", "0"], saying: "model.heads")
        rejects(["bench", "route", "--tokens", "1000,abc"], saying: "--tokens")
        rejects(["bench", "route", "--tokens", "0"], saying: "--tokens")
        rejects(["bench", "route", "--experts", ""], saying: "--experts")
        rejects(["bench", "route", "--router", "switch", "--k", "2"], saying: "it takes k = 1")
        rejects(["bench", "route", "--router", "top-2", "--k", "1"], saying: "k = 2")
        rejects(["bench", "route", "--router", "nope"], saying: "nope")
        rejects(["bench", "route", "--repetitions", "0"], saying: "--repetitions")
        rejects(["bench", "coverage", "--traces", "0"], saying: "--traces")
        rejects(["bench", "coverage", "--scenario", "10"], saying: "--scenario")
        rejects(["bench", "coverage", "--bootstrap", "1000000000"], saying: "--bootstrap must be in 1...100000")
        rejects(["bench", "route", "--memory-limit", "0"], saying: "--memory-limit")
        rejects(["bench", "route", "--router-option", "trainingCapacityFactor=-1"], saying: "trainingCapacityFactor")
    }
}
