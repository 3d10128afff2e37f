import SwitchyardFileIO
import XCTest
@testable import SwitchyardNotebooks

/// Running notebooks with a fake executor: where outputs go, re-runs, failures, formats.
final class NotebookRunnerTests: XCTestCase {
    var root: String!
    var file: String { root + "/nb.md" }
    /// The commands the fake executor ran, with their working directories.
    var calls: [(arguments: [String], directory: String)] = []

    let notebook = """
        # Routers

        Which routers are there?

        ```switchyard
        routers
        ```

        A report, in markdown:
        ```switchyard
        switchyard report runs/a \\
          --title "Two words"
        ```
        The end.

        """

    override func setUpWithError() throws {
        root = try PhysicalPath.resolve(NSTemporaryDirectory() + "notebook-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: root + "/runs/a", withIntermediateDirectories: true)
        try notebook.write(toFile: file, atomically: false, encoding: .utf8)
        calls = []
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func runner(_ results: [String: BlockResult] = [:]) throws -> NotebookRunner {
        let policy = try NotebookPolicy(allowedSubcommands: ["routers", "report", "train"], workingDirectory: root,
                                        outputOptions: ["--out"])
        return NotebookRunner(policy: policy) { arguments, directory in
            self.calls.append((arguments, directory))
            if let result = results[arguments[0]] { return result }
            switch arguments[0] {
            case "routers": return BlockResult(output: "dense\n  every expert\nswitch\n")
            case "report": return BlockResult(output: "| a | b |\n|---|---|\n| 1 | 2 |\n\n", format: .markdown)
            default: return BlockResult(output: "ran \(arguments.joined(separator: " "))\n")
            }
        }
    }

    let expected = """
        # Routers

        Which routers are there?

        ```switchyard
        routers
        ```

        <!-- switchyard:output -->
        ```text
        dense
          every expert
        switch
        ```
        <!-- switchyard:end -->

        A report, in markdown:
        ```switchyard
        switchyard report runs/a \\
          --title "Two words"
        ```

        <!-- switchyard:output -->
        | a | b |
        |---|---|
        | 1 | 2 |
        <!-- switchyard:end -->
        The end.

        """

    func testOutputsAreInsertedAfterEachBlock() throws {
        let blocks = try runner().run(file: file)
        XCTAssertEqual(blocks.map(\.line), [5, 10])
        XCTAssertEqual(calls.map(\.arguments), [["routers"], ["report", "runs/a", "--title", "Two words"]])
        XCTAssertEqual(calls.map(\.directory), [root, root], "commands run in the working directory")
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), expected)
    }

    func testRunningTwiceGivesTheSameFileAsRunningOnce() throws {
        try runner().run(file: file)
        let once = try String(contentsOfFile: file, encoding: .utf8)
        try runner().run(file: file)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), once)
        XCTAssertEqual(calls.count, 4)
        // Changed outputs replace the old ones instead of adding to them.
        try runner(["routers": BlockResult(output: "only-one\n")]).run(file: file)
        let third = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertEqual(third.components(separatedBy: OutputRegion.startMarker).count, 3)
        XCTAssertTrue(third.contains("```text\nonly-one\n```\n"))
        XCTAssertFalse(third.contains("dense"))
    }

    func testWritingElsewhereLeavesTheNotebookAlone() throws {
        let out = root + "/out/nb.md"
        try runner().run(file: file, writingTo: out)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), notebook)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), expected)
    }

    func testAFailingBlockStopsTheRunAndLeavesTheFileUntouched() throws {
        let stderr = (1...20).map { "progress \($0)" }.joined(separator: "\n") + "\nError: no run directory runs/a\n"
        let failing = try runner(["report": BlockResult(status: 3, output: "partial", errors: stderr)])
        XCTAssertThrowsError(try failing.run(file: file)) { error in
            let e = error as? InputError
            XCTAssertEqual(e?.file, file)
            XCTAssertEqual(e?.location, "line 10")
            XCTAssertTrue(e?.message.hasPrefix("`switchyard report runs/a --title 'Two words'` exited with status 3:\n") == true, "\(error)")
            XCTAssertTrue(e?.message.hasSuffix("    Error: no run directory runs/a") == true, "the end of stderr: \(error)")
            XCTAssertFalse(e?.message.contains("progress 5\n") == true, "only the last lines: \(error)")
        }
        XCTAssertEqual(calls.count, 2, "the first block ran, then the failing one")
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), notebook)
        let stray = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix(".nb.md") }
        XCTAssertEqual(stray, [], "no temporary file left")
    }

    func testNothingRunsWhenAnyBlockIsRefused() throws {
        try (notebook + "```switchyard\ntrain --out ../escape\n```\n").write(toFile: file, atomically: false, encoding: .utf8)
        let before = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertThrowsError(try runner().run(file: file)) { error in
            XCTAssertEqual("\(error)", "\(file): line 16: --out '../escape' is outside the notebook's working directory (\(root!)); a notebook writes only there")
        }
        XCTAssertTrue(calls.isEmpty, "checked before anything runs")
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), before)
    }

    func testExecutorErrorsAndMarkerLinesAreReported() throws {
        let policy = try NotebookPolicy(allowedSubcommands: ["routers"], workingDirectory: root)
        var ran = false
        let throwing = NotebookRunner(policy: policy) { _, _ in ran = true; throw InputError(message: "cannot start") }
        XCTAssertThrowsError(try throwing.run(file: file)) { error in
            XCTAssertEqual("\(error)", "\(file): line 11: 'report' is not a subcommand a notebook may run; it may run routers")
        }
        XCTAssertFalse(ran)
        try "```switchyard\nrouters\n```\n".write(toFile: file, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try throwing.run(file: file)) { error in
            XCTAssertEqual("\(error)", "\(file): line 1: `switchyard routers` could not run: cannot start")
        }
        let marker = NotebookRunner(policy: policy) { _, _ in
            BlockResult(output: "a\n<!-- switchyard:end -->\n", format: .markdown)
        }
        XCTAssertThrowsError(try marker.run(file: file)) { error in
            XCTAssertTrue("\(error)".contains("output marker"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "```switchyard\nrouters\n```\n")
    }

    func testRegionFormats() {
        XCTAssertEqual(BlockResult(output: "a\nb\n\n\n").regionContent, "```text\na\nb\n```\n")
        XCTAssertEqual(BlockResult(output: "no final line end").regionContent, "```text\nno final line end\n```\n")
        XCTAssertEqual(BlockResult(output: "x\n```\ny\n").regionContent, "````text\nx\n```\ny\n````\n",
                       "a longer fence than any in the output")
        XCTAssertEqual(BlockResult(output: "# Title\n\n| a |\n|---|\n", format: .markdown).regionContent,
                       "# Title\n\n| a |\n|---|\n")
        XCTAssertEqual(BlockResult(output: "\n\n").regionContent, "")
        XCTAssertEqual(BlockResult(output: "", format: .markdown).regionContent, "")
    }

    func testEmptyOutputStillGetsARegion() throws {
        try "```switchyard\ntrain --out runs/x\n```\n".write(toFile: file, atomically: false, encoding: .utf8)
        try runner(["train": BlockResult(output: "")]).run(file: file)
        let once = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertEqual(once, "```switchyard\ntrain --out runs/x\n```\n\n<!-- switchyard:output -->\n<!-- switchyard:end -->\n")
        try runner(["train": BlockResult(output: "")]).run(file: file)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), once)
    }

    func testTheWorkingDirectoryIsCreated() throws {
        let policy = try NotebookPolicy(allowedSubcommands: ["routers"], workingDirectory: root + "/new/place")
        var seen: String?
        let runner = NotebookRunner(policy: policy) { _, directory in
            seen = directory
            return BlockResult(output: "ok")
        }
        try "```switchyard\nrouters\n```\n".write(toFile: file, atomically: false, encoding: .utf8)
        try runner.run(file: file)
        XCTAssertEqual(seen, root + "/new/place")
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/new/place", isDirectory: &isDirectory) && isDirectory.boolValue)
    }
}
