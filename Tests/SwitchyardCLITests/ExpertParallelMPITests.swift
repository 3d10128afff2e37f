import Foundation
import XCTest
import SwitchyardCostModel
@testable import SwitchyardRoutingStatistics
@testable import SwitchyardTraces
@testable import SwitchyardTraining

/// `switchyard-mpi train --parallel expert` under `mpirun`, against one process with the same
/// routing groups (docs/expert-parallel.md, "Correctness"). The executable is built beside the
/// tests by `make test` (`SWITCHYARD_MPI=1 swift build … --product switchyard-mpi`); without it
/// these tests fail when SWITCHYARD_MPI=1 is set and are skipped otherwise.
final class ExpertParallelMPITests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-mpi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// The MPI executable beside the tests.
    func mpiExecutable() throws -> String {
        let path = URL(fileURLWithPath: try BuiltExecutable.path()).deletingLastPathComponent()
            .appendingPathComponent("switchyard-mpi").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            if ProcessInfo.processInfo.environment["SWITCHYARD_MPI"] == "1" {
                XCTFail("SWITCHYARD_MPI=1 but no switchyard-mpi beside the tests at \(path)")
            }
            throw XCTSkip("no switchyard-mpi beside the tests (build it with SWITCHYARD_MPI=1 swift build --product switchyard-mpi)")
        }
        return path
    }

    /// Runs `switchyard-mpi ARGS` on `ranks` processes (bounded by `timeout`).
    @discardableResult
    func mpirun(_ ranks: Int, _ arguments: [String], expectSuccess: Bool = true) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "10", "300", "mpirun", "--allow-run-as-root"] + (ranks > 2 ? ["--oversubscribe"] : [])
            + ["-np", String(ranks), try mpiExecutable()] + arguments
        let log = root + "/mpirun-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let output = try String(contentsOfFile: log, encoding: .utf8)
        if expectSuccess { XCTAssertEqual(process.terminationStatus, 0, output) }
        return (process.terminationStatus, output)
    }

    /// The tiny preset cut to `train` images, batch 64, one epoch, a step record per step.
    func tiny(router: String, groups: Int, train: Int = 512, test: Int = 128, extra: [String] = []) -> [String] {
        ["--preset", "tiny", "--router", router, "--set", "data.trainLimit=\(train)", "--set", "data.testLimit=\(test)",
         "--epochs", "1", "--threads", "1", "--set", "logEvery=1", "--set", "model.routingGroupImages=\(groups)", "--quiet"] + extra
    }

    /// Same routing decisions (per-step loads exactly; the final trace's experts up to 0.1 % of
    /// tokens flipped at near-ties) and losses within 1e-5 relative at every step.
    func assertSameRun(_ parallel: String, _ single: String, ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try MetricsLog.read(StepRecord.self, from: parallel + "/metrics.jsonl")
        let b = try MetricsLog.read(StepRecord.self, from: single + "/metrics.jsonl")
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        XCTAssertGreaterThan(a.count, 0, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.tokensPerExpert, y.tokensPerExpert, "step \(x.step): routing decisions", file: file, line: line)
            XCTAssertEqual(x.droppedTokens, y.droppedTokens, "step \(x.step)", file: file, line: line)
            XCTAssertLessThanOrEqual(abs(x.loss - y.loss), 1e-5 * abs(y.loss), "step \(x.step): loss \(x.loss) vs \(y.loss)",
                                     file: file, line: line)
        }
        let ta = try RoutingTraceFile.read(parallel + "/traces/epoch-1.sytrace")
        let tb = try RoutingTraceFile.read(single + "/traces/epoch-1.sytrace")
        XCTAssertEqual(ta.metadata["expertParallelProcesses"], String(ranks), file: file, line: line)
        XCTAssertEqual(ta.tokenCount, tb.tokenCount, file: file, line: line)
        XCTAssertEqual(ta.routingGroups, tb.routingGroups, file: file, line: line)
        // The test set's routing: the same experts for every token, except that OpenBLAS's
        // AVX-512 kernels round a rank's share of a batch differently from the whole batch, which
        // can flip a token whose best experts nearly tie (docs/expert-parallel.md): at most 0.1 %
        // of the tokens. Through attention a flipped token changes its whole image's later
        // layers, so that image is compared no further.
        let starts = try XCTUnwrap(imageGroups(ta), "the trace's images", file: file, line: line)
        var image = [Int](repeating: 0, count: ta.tokenCount)
        for g in 0..<(starts.count - 1) { for t in Int(starts[g])..<Int(starts[g + 1]) { image[t] = g } }
        var diverged = Set<Int>(), divergedImages = Set<Int>()
        for (la, lb) in zip(ta.layers, tb.layers) {
            var gap: Float = 0
            for t in 0..<ta.tokenCount where !divergedImages.contains(image[t]) {
                let ra = Int(la.offsets[t])..<Int(la.offsets[t + 1]), rb = Int(lb.offsets[t])..<Int(lb.offsets[t + 1])
                guard la.experts[ra] == lb.experts[rb] else { diverged.insert(t); continue }
                for (x, y) in zip(la.weights[ra], lb.weights[rb]) { gap = max(gap, abs(x - y)) }
            }
            for t in diverged { divergedImages.insert(image[t]) }
            XCTAssertLessThanOrEqual(diverged.count * 1000, ta.tokenCount,
                                     "up to layer \(la.layer): \(diverged.count) of \(ta.tokenCount) test tokens routed differently",
                                     file: file, line: line)
            XCTAssertLessThan(gap, 1e-4, "layer \(la.layer): combine weights", file: file, line: line)
        }
    }

    func single(_ arguments: [String], out: String) throws {
        let result = try BuiltExecutable.run(["train"] + arguments + ["--out", out], in: root)
        XCTAssertEqual(result.status, 0, result.errors)
    }

    func testTwoAndFourProcessesEqualOneWithTheSameRoutingGroups() throws {
        for router in ["loss-free", "expert-choice"] {
            // 528 and 80 images: the last batches (16 images) leave rank 1 with none.
            let args = tiny(router: router, groups: 32, train: 528, test: 80)
            try single(args, out: root + "/\(router)-1")
            try mpirun(2, ["train"] + args + ["--parallel", "expert", "--out", root + "/\(router)-2"])
            try assertSameRun(root + "/\(router)-2", root + "/\(router)-1", ranks: 2)
        }
        // Four processes oversubscribing two cores, two of 8 experts each.
        let args = tiny(router: "loss-free", groups: 16, extra: ["--experts", "8"])
        try single(args, out: root + "/p4-1")
        try mpirun(4, ["train"] + args + ["--parallel", "expert", "--out", root + "/p4-4"])
        try assertSameRun(root + "/p4-4", root + "/p4-1", ranks: 4)
        // The loss-free bias, updated from the loads summed over the ranks, is the same.
        let a = try Checkpoint.read(root + "/p4-4/checkpoints/epoch-1.ckpt")
        let b = try Checkpoint.read(root + "/p4-1/checkpoints/epoch-1.ckpt")
        let bias = a.header.arrays.map(\.name).filter { $0.contains("router.state") }
        XCTAssertEqual(bias.count, 2)
        for name in bias { XCTAssertEqual(a.array(named: name), b.array(named: name), name) }
    }

    func testFashionMNISTSmallOnTwoAndFourProcessesEqualsOne() throws {
        func args(groups: Int, experts: Int) -> [String] {
            ["--preset", "fmnist-small", "--router", "loss-free", "--experts", String(experts), "--set", "data.trainLimit=512",
             "--set", "data.testLimit=256", "--epochs", "1", "--threads", "1", "--set", "logEvery=1",
             "--set", "model.routingGroupImages=\(groups)", "--quiet"]
        }
        try single(args(groups: 64, experts: 4), out: root + "/fm-1")
        try mpirun(2, ["train"] + args(groups: 64, experts: 4) + ["--parallel", "expert", "--out", root + "/fm-2"])
        try assertSameRun(root + "/fm-2", root + "/fm-1", ranks: 2)
        try single(args(groups: 32, experts: 8), out: root + "/fm8-1")
        try mpirun(4, ["train"] + args(groups: 32, experts: 8) + ["--parallel", "expert", "--out", root + "/fm8-4"])
        try assertSameRun(root + "/fm8-4", root + "/fm8-1", ranks: 4)
    }

    /// The simulator's per-device rows for the run's trace equal what the ranks measured in
    /// the evaluation pass that recorded it.
    func testSimulationPredictsTheMeasuredRowsAndBytesExactly() throws {
        let run = root + "/sim"
        try mpirun(2, ["train"] + tiny(router: "expert-choice", groups: 32) + ["--parallel", "expert", "--out", run])
        let records = try MetricsLog.read(ExpertParallelRecord.self, from: run + "/expert-parallel.jsonl")
        let measured = try XCTUnwrap(records.last { $0.phase == "evaluation" })
        XCTAssertEqual(measured.images, [64, 64])
        XCTAssertTrue(records.contains { $0.phase == "train" && $0.batches == 1 && $0.images == [32, 32] })
        // Evaluation batches of 64 images (17 tokens each) are the dispatch steps, split over 2 devices.
        let json = root + "/sim.json"
        let result = try BuiltExecutable.run(["simulate", run + "/traces/epoch-1.sytrace", "--devices", "2",
                                              "--group-tokens", String(64 * 17), "--hidden", "32",
                                              "--bytes-per-element", "4", "--json", json], in: root)
        XCTAssertEqual(result.status, 0, result.errors)
        struct Output: Decodable { var result: SimulationResult }
        let simulated = try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: json))).result
        for r in 0..<2 {
            let sent = simulated.layers.reduce(0) { $0 + $1.deviceSentRows[r] }
            let received = simulated.layers.reduce(0) { $0 + $1.deviceReceivedRows[r] }
            let rows = simulated.layers.reduce(0) { $0 + $1.deviceRows[r] }
            let m = measured.ranks[r]
            XCTAssertEqual(m.dispatchedRowsSent, sent, "rank \(r): rows sent")
            XCTAssertEqual(m.dispatchedRowsReceived, received, "rank \(r): rows received")
            XCTAssertEqual(m.expertRows, rows, "rank \(r): expert rows")
            // Dispatch and return: each remote row crosses twice, 32 floats of 4 bytes.
            XCTAssertEqual(m.bytesSent, (sent + received) * 32 * 4, "rank \(r): bytes sent")
            XCTAssertEqual(m.bytesReceived, (sent + received) * 32 * 4, "rank \(r): bytes received")
        }
        // The run report shows the measurements and the simulator's rows beside them.
        let report = try BuiltExecutable.run(["report", run, "--out", root + "/report"], in: root)
        XCTAssertEqual(report.status, 0, report.errors)
        let markdown = try String(contentsOfFile: root + "/report/report.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("## Measured expert parallelism"))
        func grouped(_ n: Int) -> String {   // 12,345
            let digits = Array(String(n))
            return String(digits.enumerated().flatMap { i, c in i > 0 && (digits.count - i) % 3 == 0 ? [",", c] : [c] })
        }
        for r in 0..<2 {
            let m = measured.ranks[r]
            let row = "| \(r) | \(grouped(m.expertRows)) | \(grouped(m.expertRows)) | \(grouped(m.dispatchedRowsSent)) | "
                + "\(grouped(m.dispatchedRowsSent)) |"
            XCTAssertTrue(markdown.contains(row), "no row \(row) in the report")
        }
    }

    func testAResumedRunGoesOnOnAnotherProcessCount() throws {
        // Runs meant to be extended keep a constant learning rate (docs/training.md).
        let args = tiny(router: "loss-free", groups: 16, extra: ["--set", "optimizer.minLearningRate=0.003"])
        try mpirun(2, ["train"] + args + ["--parallel", "expert", "--out", root + "/full", "--epochs", "2"])
        try mpirun(2, ["train"] + args + ["--parallel", "expert", "--out", root + "/resumed"])
        try mpirun(4, ["train", "--out", root + "/resumed", "--resume", "--epochs", "2", "--quiet", "--parallel", "expert"])
        let a = try MetricsLog.read(StepRecord.self, from: root + "/full/metrics.jsonl")
        let b = try MetricsLog.read(StepRecord.self, from: root + "/resumed/metrics.jsonl")
        XCTAssertEqual(a.map(\.step), b.map(\.step))
        XCTAssertEqual(a.count, 16)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.tokensPerExpert, y.tokensPerExpert, "step \(x.step)")
            XCTAssertLessThanOrEqual(abs(x.loss - y.loss), 1e-5 * abs(x.loss), "step \(x.step)")
        }
    }

    /// The plain `switchyard` has no MPI: --parallel expert says how to get it, writes nothing.
    func testThePlainBuildRefusesExpertParallelismSayingHowToGetIt() throws {
        for command in [["train", "--preset", "tiny", "--out", root + "/plain"], ["bench", "train", "--preset", "tiny"]] {
            let result = try BuiltExecutable.run(command + ["--parallel", "expert"], in: root)
            XCTAssertEqual(result.status, 1, result.errors)
            XCTAssertTrue(result.errors.contains("--parallel expert: needs MPI, and this switchyard was built without it"), result.errors)
            XCTAssertTrue(result.errors.contains("make mpi"), result.errors)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/plain"))
    }

    func testAProcessCountThatDoesNotDivideTheExpertsIsAClearError() throws {
        let run = try mpirun(3, ["train"] + tiny(router: "switch", groups: 0) + ["--batch-size", "48", "--parallel", "expert",
                                                                               "--out", root + "/three"], expectSuccess: false)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.output.contains("4 experts cannot be shared evenly by 3 processes"), run.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/three/checkpoints"), "nothing trained, nothing written")
    }

    /// A rank killed mid-run ends the job within seconds; no checkpoint is left half-written.
    func testARankKilledMidRunEndsTheJob() throws {
        let run = root + "/killed"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "10", "120", "mpirun", "--allow-run-as-root", "-np", "2", try mpiExecutable(), "train"]
            + tiny(router: "loss-free", groups: 32, train: 2000) + ["--epochs", "3", "--parallel", "expert", "--out", run]
        let log = root + "/killed.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        // Wait for the first epoch's checkpoint, then kill a rank (a child of mpirun) with SIGKILL.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: run + "/checkpoints/epoch-1.ckpt") && Date() < deadline { usleep(50_000) }
        let executable = try mpiExecutable()
        let ranks = try childProcesses(of: process.processIdentifier).flatMap { try [$0] + childProcesses(of: $0) }
            .filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe")) == executable }
        XCTAssertEqual(ranks.count, 2, "two rank processes")
        let killed = Date()
        kill(ranks.last!, SIGKILL)
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(killed)
        XCTAssertNotEqual(process.terminationStatus, 0)
        XCTAssertNotEqual(process.terminationStatus, 124, "the job did not end by itself")
        XCTAssertLessThan(seconds, 30)
        let output = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(output.contains("signal 9"), output)
        for name in try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints") {
            XCTAssertTrue(name.hasSuffix(".ckpt"), "a temporary file was left: \(name)")
            XCTAssertNoThrow(try Checkpoint.read(run + "/checkpoints/" + name), name)
        }
        // Gone, or a zombie whose parent has not reaped it yet (not running).
        func running(_ pid: Int32) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
        }
        for pid in ranks {
            for _ in 0..<40 where running(pid) { usleep(100_000) }
            XCTAssertFalse(running(pid), "rank process \(pid) still runs")
        }
    }

    /// SIGTERM to mpirun reaches every rank; they agree on the step to stop after, rank 0
    /// writes the interrupted checkpoint, and the run resumes from it on another process count.
    func testSIGTERMStopsEveryRankAfterTheSameStepAndTheRunResumes() throws {
        let run = root + "/stopped"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        let args = tiny(router: "loss-free", groups: 16, train: 2000)
        process.arguments = ["-k", "10", "120", "mpirun", "--allow-run-as-root", "-np", "2", try mpiExecutable(), "train"]
            + args + ["--epochs", "30", "--parallel", "expert", "--out", run]
        let log = root + "/stopped.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: run + "/checkpoints/epoch-1.ckpt") && Date() < deadline { usleep(50_000) }
        let launcher = try childProcesses(of: process.processIdentifier).filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe"))?.hasSuffix("/orterun") == true
                || (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("mpirun") == true
        }
        XCTAssertEqual(launcher.count, 1)
        kill(launcher[0], SIGTERM)
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 124, "the job did not end by itself")
        let output = try String(contentsOfFile: log, encoding: .utf8)
        let stops = output.components(separatedBy: "\n").filter { $0.contains("switchyard train: interrupted (signal 15) after step") }
        XCTAssertEqual(stops.count, 2, output)
        XCTAssertEqual(Set(stops).count, 1, "both ranks stopped after the same step: \(stops)")
        let interrupted = try Checkpoint.read(run + "/checkpoints/interrupted.ckpt")
        XCTAssertLessThan(interrupted.header.step, 30 * 32)
        try mpirun(4, ["train", "--out", run, "--resume", "--quiet", "--parallel", "expert"])
        let steps = try MetricsLog.read(StepRecord.self, from: run + "/metrics.jsonl").map(\.step)
        XCTAssertEqual(steps, Array(1...30 * 32))
    }

    private func childProcesses(of pid: Int32) throws -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task -> [Int32] in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0) }
        }
    }
}
