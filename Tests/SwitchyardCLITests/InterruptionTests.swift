import Foundation
import XCTest
@testable import SwitchyardTraining

/// Runs that are stopped — politely by SIGINT, or brutally by SIGKILL at random moments — and
/// resumed end with exactly the weights of a run that was never stopped.
final class InterruptionTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-interrupt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// The tiny preset on all its 2,000 committed training images, batch 32: 2 epochs of 63 steps
    /// (long enough, about half a second in a release build, to be stopped in the middle).
    func trainArguments(_ out: String, resume: Bool = false) -> [String] {
        ["train", "--preset", "tiny", "--router", "noisy-top-k", "--epochs", "2", "--batch-size", "32", "--threads", "1",
         "--set", "data.trainLimit=2000", "--set", "data.testLimit=100", "--set", "logEvery=1", "--out", out]
            + (resume ? ["--resume"] : [])
    }

    /// Lines in a run's metrics.jsonl (how many steps it has logged).
    func loggedSteps(_ run: String) -> Int {
        ((try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func assertSameFinalWeights(_ run: String, as reference: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try Checkpoint.read(reference + "/checkpoints/epoch-2.ckpt")
        let b = try Checkpoint.read(run + "/checkpoints/epoch-2.ckpt")
        XCTAssertEqual(a.header.step, b.header.step, file: file, line: line)
        XCTAssertEqual(a.arrays.count, b.arrays.count, file: file, line: line)
        for (x, y) in zip(a.arrays, b.arrays) {
            XCTAssertEqual(x.map(\.bitPattern), y.map(\.bitPattern), "weights differ", file: file, line: line)
        }
        let ea = try MetricsLog.read(EpochRecord.self, from: reference + "/epochs.jsonl").map(\.testAccuracy)
        let eb = try MetricsLog.read(EpochRecord.self, from: run + "/epochs.jsonl").map(\.testAccuracy)
        XCTAssertEqual(ea, eb, "one epoch record per epoch, with the same accuracies", file: file, line: line)
    }

    func testSIGINTWritesACheckpointAndResumingGivesTheUninterruptedWeights() throws {
        XCTAssertEqual(try BuiltExecutable.run(trainArguments("full"), in: root).status, 0)
        let process = try BuiltExecutable.start(trainArguments("stopped"), in: root)
        let deadline = Date().addingTimeInterval(60)
        while loggedSteps(root + "/stopped") < 40 && process.isRunning && Date() < deadline { usleep(2_000) }
        XCTAssertTrue(process.isRunning, "the run ended before it could be interrupted")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let errors = try String(contentsOfFile: root + "/.stderr", encoding: .utf8)
        XCTAssertEqual(process.terminationStatus, 128 + SIGINT, errors)
        XCTAssertTrue(errors.contains("--resume"), errors)
        let checkpoint = try Checkpoint.read(root + "/stopped/checkpoints/interrupted.ckpt")
        XCTAssertGreaterThanOrEqual(checkpoint.header.step, 40)
        XCTAssertEqual(try BuiltExecutable.run(trainArguments("stopped", resume: true), in: root).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/stopped/checkpoints/interrupted.ckpt"),
                       "a later epoch checkpoint replaces the interrupted one")
        try assertSameFinalWeights(root + "/stopped", as: root + "/full")
        let steps = try MetricsLog.read(StepRecord.self, from: root + "/stopped/metrics.jsonl").map(\.step)
        let uninterrupted = try MetricsLog.read(StepRecord.self, from: root + "/full/metrics.jsonl").map(\.step)
        XCTAssertEqual(uninterrupted, Array(1...126), "2 epochs of 63 steps")
        XCTAssertEqual(steps, uninterrupted, "every step logged once")
    }

    func testSIGKILLAtRandomMomentsNeverCostsMoreThanTheStepsSinceTheLastCheckpoint() throws {
        let started = Date()
        XCTAssertEqual(try BuiltExecutable.run(trainArguments("full"), in: root).status, 0)
        // Kill moments are drawn within the uninterrupted run's duration, whatever the build's speed.
        let fullMicroseconds = max(20_000, Date().timeIntervalSince(started) * 1e6)
        var rng = SystemRandomNumberGenerator()
        var kills = 0, attempts = 0, scale = 1.0
        while kills < 4 && attempts < 12 {
            attempts += 1
            let process = try BuiltExecutable.start(trainArguments("killed", resume: kills > 0), in: root)
            usleep(UInt32(fullMicroseconds * scale * Double.random(in: 0.1...0.6, using: &rng)))
            guard process.isRunning else {
                process.waitUntilExit()
                // A resumed run finished: there is nothing left to kill.
                if kills > 0 { break }
                // The first run finished before its kill (the uninterrupted run was timed while
                // the machine was busier): start again from nothing and kill sooner.
                try? FileManager.default.removeItem(atPath: root + "/killed")
                scale /= 2
                continue
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            kills += 1
            // Whatever the moment, what is on disk is whole: every checkpoint verifies.
            for (_, path) in Trainer.checkpoints(in: root + "/killed") { XCTAssertNoThrow(try Checkpoint.read(path)) }
        }
        XCTAssertGreaterThan(kills, 0)
        let final = try BuiltExecutable.run(trainArguments("killed", resume: true), in: root)
        XCTAssertEqual(final.status, 0, final.errors)
        try assertSameFinalWeights(root + "/killed", as: root + "/full")
    }
}
