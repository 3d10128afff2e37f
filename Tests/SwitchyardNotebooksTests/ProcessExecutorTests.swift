import SwitchyardFileIO
import XCTest
@testable import SwitchyardNotebooks

/// Running commands as child processes, with no shell: arguments, directory, both pipes.
final class ProcessExecutorTests: XCTestCase {
    func testArgumentsArePassedAsTheyAreAndTheFormatFollowsTheSubcommand() throws {
        let echo = ProcessExecutor(executablePath: "/bin/echo", markdownSubcommands: ["report", "sweep report"])
        let text = try echo.run(arguments: ["routers", "a  b", "$HOME", "*"], workingDirectory: "/")
        XCTAssertEqual(text, BlockResult(status: 0, output: "routers a  b $HOME *\n", errors: "", format: .text),
                       "no shell: nothing expanded")
        XCTAssertEqual(try echo.run(arguments: ["report", "x"], workingDirectory: "/").format, .markdown)
        XCTAssertEqual(try echo.run(arguments: ["sweep", "report", "x"], workingDirectory: "/").format, .markdown)
        XCTAssertEqual(try echo.run(arguments: ["sweep", "run", "x"], workingDirectory: "/").format, .text)
    }

    func testTheCommandRunsInTheWorkingDirectory() throws {
        let directory = try PhysicalPath.resolve(NSTemporaryDirectory())
        let result = try ProcessExecutor(executablePath: "/bin/pwd").run(arguments: [], workingDirectory: directory)
        XCTAssertEqual(result.output, directory + "\n")
    }

    func testLargeOutputOnBothPipesDoesNotBlock() throws {
        // ls writes an error per missing name to stderr and each existing one to stdout,
        // far more than a pipe holds: reading one pipe after the other would hang.
        let names = (0..<6000).flatMap { ["/", "/no-such-entry-\($0)"] }
        let result = try ProcessExecutor(executablePath: "/bin/ls").run(arguments: ["-d"] + names, workingDirectory: "/")
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.output, String(repeating: "/\n", count: 6000))
        // Standard error is kept only in part: at least its last 64 KiB, ending with the last line.
        XCTAssertGreaterThanOrEqual(result.errors.utf8.count, ProcessExecutor.keptErrorBytes)
        XCTAssertTrue(result.errors.hasSuffix("no-such-entry-5999': No such file or directory\n"), String(result.errors.suffix(100)))
    }

    func testABlockPastItsTimeLimitIsStoppedWithItsProcessGroup() throws {
        // The shell starts a grandchild that would outlive it; the whole group is killed.
        let marker = NSTemporaryDirectory() + "switchyard-group-\(UUID().uuidString)"
        let executor = ProcessExecutor(executablePath: "/bin/sh", limits: BlockLimits(seconds: 0.5))
        let started = Date()
        XCTAssertThrowsError(try executor.run(arguments: ["-c", "sleep 30 & echo $! > \(marker); wait"], workingDirectory: "/")) { error in
            XCTAssertEqual(error as? BlockLimitExceeded, BlockLimitExceeded(limit: .seconds(0.5)))
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        let grandchild = try XCTUnwrap(pid_t(String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        try? FileManager.default.removeItem(atPath: marker)
        usleep(100_000)
        // Gone, or a zombie waiting for a parent (in a container, pid 1 may not reap it).
        let state = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8))?
            .split(separator: ")").last?.split(separator: " ").first
        XCTAssertTrue(state == nil || state == "Z" || state == "X", "the grandchild \(grandchild) is still running (\(state ?? ""))")
    }

    func testABlockPrintingPastItsOutputLimitIsStopped() throws {
        let executor = ProcessExecutor(executablePath: "/usr/bin/yes", limits: BlockLimits(seconds: 30, outputBytes: 100_000))
        XCTAssertThrowsError(try executor.run(arguments: ["spam"], workingDirectory: "/")) { error in
            XCTAssertEqual(error as? BlockLimitExceeded, BlockLimitExceeded(limit: .outputBytes(100_000)))
            XCTAssertTrue("\(error)".contains("--max-output"), "\(error)")
        }
    }

    func testAMissingExecutableIsAnError() {
        XCTAssertThrowsError(try ProcessExecutor(executablePath: "/no/such/switchyard").run(arguments: ["routers"], workingDirectory: "/")) { error in
            XCTAssertEqual((error as? InputError)?.file, "/no/such/switchyard", "\(error)")
        }
    }

    func testTheDefaultIsTheRunningExecutable() {
        XCTAssertEqual(ProcessExecutor().executablePath,
                       URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path)
    }
}
