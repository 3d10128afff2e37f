import SwitchyardFileIO
import XCTest
@testable import SwitchyardNotebooks

/// Running commands as child processes, with no shell: arguments, directory, both pipes.
final class ProcessExecutorTests: XCTestCase {
    func testArgumentsArePassedAsTheyAreAndTheFormatFollowsTheSubcommand() throws {
        let echo = ProcessExecutor(executablePath: "/bin/echo", markdownSubcommands: ["report"])
        let text = try echo.run(arguments: ["routers", "a  b", "$HOME", "*"], workingDirectory: "/")
        XCTAssertEqual(text, BlockResult(status: 0, output: "routers a  b $HOME *\n", errors: "", format: .text),
                       "no shell: nothing expanded")
        XCTAssertEqual(try echo.run(arguments: ["report", "x"], workingDirectory: "/").format, .markdown)
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
        XCTAssertEqual(result.errors.components(separatedBy: "no-such-entry-").count, 6001)
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
