import ArgumentParser
import XCTest
@testable import SwitchyardCLI

/// `switchyard notebook run` end to end: the built executable runs a notebook in a
/// temporary directory, its blocks running as child processes of that executable.
final class NotebookCommandTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-notebook-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/nb", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// The `switchyard` executable that `swift build` / `swift test` put beside the test bundle.
    func executable() throws -> String {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let path = bundle.appendingPathComponent("switchyard").path
        return try XCTUnwrap(FileManager.default.isExecutableFile(atPath: path) ? path : nil,
                             "no switchyard executable beside the tests at \(path); run `swift build` first")
    }

    /// Runs the executable with `arguments` in `root`; returns exit status, stdout and stderr.
    func switchyard(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        let out = root + "/.stdout", err = root + "/.stderr"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOfFile: out, encoding: .utf8),
                try String(contentsOfFile: err, encoding: .utf8))
    }

    func testRunInsertsEachBlocksOutputAndRerunsReplaceThem() throws {
        let notebook = root + "/nb/smoke.md"
        try """
            # Smoke test

            The Switch router and its options:

            ```switchyard
            routers --name switch
            ```

            The presets:

            ```switchyard
            # the leading word is optional
            switchyard presets
            ```
            """.write(toFile: notebook, atomically: true, encoding: .utf8)
        let first = try switchyard(["notebook", "run", "nb/smoke.md"])
        XCTAssertEqual(first.status, 0, first.errors)
        XCTAssertTrue(first.errors.contains("nb/smoke.md: line 5: switchyard routers --name switch"), first.errors)
        let once = try String(contentsOfFile: notebook, encoding: .utf8)
        XCTAssertEqual(once.components(separatedBy: "<!-- switchyard:output -->").count, 3, once)
        let routers = try XCTUnwrap(once.range(of: "routers --name switch\n```\n\n<!-- switchyard:output -->\n```text\nswitch\n"), once)
        let presets = try XCTUnwrap(once.range(of: "switchyard presets\n```\n\n<!-- switchyard:output -->\n```text\n"), once)
        XCTAssertLessThan(routers.lowerBound, presets.lowerBound)
        XCTAssertTrue(once[presets.upperBound...].hasPrefix("fmnist-small"), once)
        XCTAssertTrue(once.hasSuffix("<!-- switchyard:end -->\n"), once)
        XCTAssertTrue(once.hasPrefix("# Smoke test\n\nThe Switch router and its options:\n\n```switchyard\n"))

        let second = try switchyard(["notebook", "run", "nb/smoke.md"])
        XCTAssertEqual(second.status, 0, second.errors)
        XCTAssertEqual(try String(contentsOfFile: notebook, encoding: .utf8), once, "a second run replaces the outputs")
    }

    func testABlockWritingOutsideIsRefusedAndTheFileUntouched() throws {
        let notebook = root + "/nb/escape.md"
        let text = "Fine first:\n\n```switchyard\nrouters\n```\n"
            + "\n```switchyard\ntrain --preset tiny --out ../escape\n```\n"
        try text.write(toFile: notebook, atomically: true, encoding: .utf8)
        let result = try switchyard(["notebook", "run", "nb/escape.md"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.errors.contains("nb/escape.md: line 8: --out '../escape' is outside the notebook's working directory (nb)"),
                      result.errors)
        XCTAssertEqual(try String(contentsOfFile: notebook, encoding: .utf8), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/escape"))
        XCTAssertFalse(result.errors.contains("line 3: switchyard routers"), "nothing ran: \(result.errors)")
    }

    func testDryRunChecksWithoutRunningAndNotebooksCannotRecurse() throws {
        XCTAssertEqual(NotebookRunCommand.allowedSubcommands, ["train", "eval", "analyze", "report", "compare", "presets", "routers", "bench"])
        let notebook = root + "/nb/dry.md"
        let text = "```switchyard\ntrain --preset tiny --out runs/t\n```\n"
        try text.write(toFile: notebook, atomically: true, encoding: .utf8)
        var command = try SwitchyardCommand.parseAsRoot(["notebook", "run", notebook, "--dry-run"])
        try command.run()
        XCTAssertEqual(try String(contentsOfFile: notebook, encoding: .utf8), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/nb/runs"), "a dry run runs nothing")

        try "```switchyard\nnotebook run dry.md\n```\n".write(toFile: notebook, atomically: true, encoding: .utf8)
        command = try SwitchyardCommand.parseAsRoot(["notebook", "run", notebook, "--dry-run"])
        XCTAssertThrowsError(try command.run()) { error in
            XCTAssertTrue("\(error)".contains("line 2: 'notebook' is not a subcommand a notebook may run"), "\(error)")
        }
    }
}
