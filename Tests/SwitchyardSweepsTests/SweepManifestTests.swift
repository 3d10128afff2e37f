import Foundation
import XCTest
import SwitchyardFileIO
import SwitchyardTraining
@testable import SwitchyardSweeps

/// The manifest round-trips, a corrupt or edited one is refused with its line, and a run
/// directory is read as pending, interrupted, done or foreign (never to be overwritten).
final class SweepManifestTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-sweeps-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    static let spec = """
        preset: tiny
        set: {epochs: 1, data.trainLimit: 256, data.testLimit: 64, threads: 1}
        grid:
          model.router: [switch, expert-choice]
        seeds: [0, 1]
        """

    func planned() throws -> SweepManifest {
        let runs = try SweepPlan.expand(try SweepSpec.parse(Self.spec, file: "spec.yaml"))
        let manifest = SweepManifest(directory: root + "/sweep", runs: runs)
        try manifest.write(specText: Self.spec, specName: "spec.yaml")
        return manifest
    }

    func readError(_ text: String) -> String {
        FileManager.default.createFile(atPath: root + "/sweep/manifest.jsonl", contents: Data(text.utf8))
        do {
            _ = try SweepManifest.read(directory: root + "/sweep")
            return "no error"
        } catch {
            return "\(error)".replacingOccurrences(of: root, with: "ROOT")
        }
    }

    func testRoundTripAndFilesBesideIt() throws {
        let manifest = try planned()
        let read = try SweepManifest.read(directory: root + "/sweep")
        XCTAssertEqual(read.runs, manifest.runs)
        let lines = try String(contentsOfFile: manifest.file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4, "one run per line")
        for run in manifest.runs {
            let config = try ConfigurationResolver.resolve(preset: nil, file: manifest.path(run.configPath), settings: [])
            XCTAssertEqual(config, run.configuration, "configs/ID.json holds the resolved configuration")
        }
        XCTAssertEqual(try String(contentsOfFile: root + "/sweep/spec.yaml", encoding: .utf8), Self.spec)
        // Planning the same spec again changes nothing; another sweep in the directory is refused.
        try manifest.write(specText: Self.spec, specName: "spec.yaml")
        var other = manifest
        other.runs.removeLast()
        XCTAssertThrowsError(try other.write(specText: "", specName: "spec.yaml")) { error in
            XCTAssertTrue("\(error)".hasSuffix("manifest.jsonl: this directory already holds a different sweep; plan into another directory (its runs are kept)"), "\(error)")
        }
        XCTAssertEqual(try SweepManifest.read(directory: root + "/sweep").runs.count, 4)
    }

    func testCorruptManifestsAreRefusedWithTheirLine() throws {
        let manifest = try planned()
        let text = try String(contentsOfFile: manifest.file, encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(readError(lines[0] + "\n{\"index\": 1\n"),
                       "ROOT/sweep/manifest.jsonl: line 2: not a sweep run (The given data was not valid JSON.); the manifest is corrupt, plan the sweep again")
        XCTAssertEqual(readError(lines[0] + "\n" + lines[1]),
                       "ROOT/sweep/manifest.jsonl: line 2: the last line has no newline: the manifest was cut short; plan the sweep again")
        XCTAssertEqual(readError(lines[1] + "\n"), "ROOT/sweep/manifest.jsonl: line 1: index 1, expected 0: lines are missing or out of order")
        XCTAssertEqual(readError(""), "ROOT/sweep/manifest.jsonl: the manifest is empty; plan the sweep again")
        lines[2] = lines[2].replacingOccurrences(of: "\"seed\":0", with: "\"seed\":5")
        XCTAssertTrue(readError(lines.joined(separator: "\n") + "\n").hasPrefix("ROOT/sweep/manifest.jsonl: line 3: id \(manifest.runs[2].id) is not the hash of the line's configuration"))
        XCTAssertEqual(readError("{\"index\": 0}\n"), "ROOT/sweep/manifest.jsonl: line 1: not a sweep run (missing field id); the manifest is corrupt, plan the sweep again")
        try FileManager.default.removeItem(atPath: manifest.file)
        XCTAssertThrowsError(try SweepManifest.read(directory: root + "/sweep")) { error in
            XCTAssertTrue("\(error)".hasSuffix("no manifest here; write one with `switchyard sweep plan SPEC --out \(self.root!)/sweep`"), "\(error)")
        }
    }

    func writeRun(_ run: SweepRun, configuration: TrainingConfiguration? = nil, summary: Bool) throws -> String {
        let directory = root + "/sweep/" + run.runPath
        let encoder = JSONEncoder()
        try AtomicFile.write(try encoder.encode(configuration ?? run.configuration), to: directory + "/config.json")
        if summary {
            let summary = """
                {"router": "\(run.configuration.model.router)", "routerOptions": {}, "preset": "tiny", "seed": 0, "epochs": 1,
                 "steps": 4, "testAccuracy": 0.5, "perClassAccuracy": [], "classNames": [], "parameterCount": 1,
                 "evaluationParameterCount": 1, "trainSeconds": 1, "imagesPerSecond": 1, "threads": 1}
                """
            try AtomicFile.write(summary, to: directory + "/summary.json")
        }
        return directory
    }

    func testRunStates() throws {
        let manifest = try planned()
        let runs = manifest.runs
        XCTAssertEqual(RunState.of(runs[0], in: manifest.directory), .pending)
        try FileManager.default.createDirectory(atPath: manifest.path(runs[0].runPath), withIntermediateDirectories: true)
        XCTAssertEqual(RunState.of(runs[0], in: manifest.directory), .pending, "an empty directory")
        _ = try writeRun(runs[0], summary: true)
        guard case .done(let summary) = RunState.of(runs[0], in: manifest.directory) else { return XCTFail("not done") }
        XCTAssertEqual(summary.testAccuracy, 0.5)
        var twoThreads = runs[1].configuration
        twoThreads.threads = 2
        _ = try writeRun(runs[1], configuration: twoThreads, summary: false)
        XCTAssertEqual(RunState.of(runs[1], in: manifest.directory), .interrupted(epochs: 0, checkpoint: nil, threads: 2),
                       "same experiment with another thread count: resumed with its own")
        let foreign = try writeRun(runs[2], configuration: runs[3].configuration, summary: true)
        XCTAssertEqual(RunState.of(runs[2], in: manifest.directory),
                       .foreign("\(foreign) holds a run of a different configuration (seed is 1 there, 0 in the manifest)"))
        try AtomicFile.write("x", to: manifest.path(runs[3].runPath) + "/notes.txt")
        XCTAssertEqual(RunState.of(runs[3], in: manifest.directory),
                       .foreign("\(manifest.path(runs[3].runPath)) holds files (notes.txt) but no config.json"))
    }

    func testATaskRefusesAForeignRunDirectoryAndRecordsIt() throws {
        let manifest = try planned()
        let directory = try writeRun(manifest.runs[0], configuration: manifest.runs[2].configuration, summary: true)
        let before = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let config = try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))
        var task = try SweepTask(manifest: manifest, index: 0, threads: 1, executable: "/nonexistent/switchyard")
        task.log = { _ in }
        guard case .failed(let record) = try task.execute() else { return XCTFail("a foreign run directory must be refused") }
        XCTAssertTrue(record.reason.hasPrefix("refused: \(directory) holds a run of a different configuration (model.router is \"expert-choice\" there, \"switch\" in the manifest)"), record.reason)
        XCTAssertEqual(FailureRecord.read(sweep: manifest.directory, id: manifest.runs[0].id), record)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).sorted(), before, "nothing written into it")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json")), config)
        let status = try SweepStatus(manifest: manifest)
        XCTAssertEqual(status.entries[0].standing, .failed)
        XCTAssertEqual(status.counts, "1 failed, 3 pending")
    }

    func testLocksAreExclusive() throws {
        let path = root + "/state/x.lock"
        XCTAssertFalse(RunLock.isHeld(path: path))
        var lock = try RunLock(path: path)
        XCTAssertNotNil(lock)
        XCTAssertTrue(RunLock.isHeld(path: path))
        XCTAssertNil(try RunLock(path: path), "a second holder is refused")
        lock = nil
        XCTAssertFalse(RunLock.isHeld(path: path))
    }
}
