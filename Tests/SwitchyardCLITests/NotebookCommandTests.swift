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

    /// Runs the built executable with `arguments` in `root`.
    func switchyard(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        try BuiltExecutable.run(arguments, in: root)
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
            """.write(toFile: notebook, atomically: false, encoding: .utf8)
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
        try text.write(toFile: notebook, atomically: false, encoding: .utf8)
        let result = try switchyard(["notebook", "run", "nb/escape.md"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.errors.contains("nb/escape.md: line 8: --out '../escape' is outside the directories a notebook may write (runs, reports in nb)"),
                      result.errors)
        XCTAssertEqual(try String(contentsOfFile: notebook, encoding: .utf8), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/escape"))
        XCTAssertFalse(result.errors.contains("line 3: switchyard routers"), "nothing ran: \(result.errors)")
    }

    func testBlocksCannotWriteTheNotebookAndAFailedRunLeavesItAsItWas() throws {
        // A notebook named report.md, a block whose --out is its directory, one whose --json is
        // the notebook, and a path hidden after the second '=' of --set=…=…: each refused.
        for (name, block, message) in [
            ("report.md", "report runs/a --out .", "--out '.' would write into a directory holding the notebook"),
            ("self.md", "analyze runs/a --json self.md", "--json 'self.md' would write over the notebook"),
            ("set.md", "train --preset tiny --set=data.directory=/etc --out runs/x", "--set '/etc' is outside the notebook's directories"),
            ("opt.md", "train --preset tiny --router-option=x=../../y --out runs/x", "--router-option '../../y' is outside"),
        ] {
            let text = "```switchyard\nrouters\n```\n\n```switchyard\n\(block)\n```\n"
            try text.write(toFile: root + "/nb/" + name, atomically: false, encoding: .utf8)
            let result = try switchyard(["notebook", "run", "nb/" + name, "--allow-write", "."])
            XCTAssertEqual(result.status, 1, result.errors)
            XCTAssertTrue(result.errors.contains("nb/\(name): line 6: \(message)"), result.errors)
            XCTAssertEqual(try String(contentsOfFile: root + "/nb/" + name, encoding: .utf8), text)
        }
        // A block past its time limit is stopped, with its process group; the notebook is as it was.
        let text = "```switchyard\ntrain --preset tiny --epochs 100000 --out runs/long\n```\n"
        try text.write(toFile: root + "/nb/long.md", atomically: false, encoding: .utf8)
        let started = Date()
        let result = try switchyard(["notebook", "run", "nb/long.md", "--block-timeout", "1"])
        XCTAssertEqual(result.status, 1, result.errors)
        XCTAssertTrue(result.errors.contains("was stopped after 1 s, the time a block may run (--block-timeout)"), result.errors)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        XCTAssertEqual(try String(contentsOfFile: root + "/nb/long.md", encoding: .utf8), text)
    }

    func testASymlinkedNotebookIsWrittenThroughItsLink() throws {
        try FileManager.default.createDirectory(atPath: root + "/nb/real", withIntermediateDirectories: true)
        try "```switchyard\npresets\n```\n".write(toFile: root + "/nb/real/notes.md", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/nb/link.md", withDestinationPath: "real/notes.md")
        let result = try switchyard(["notebook", "run", "nb/link.md"])
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/nb/link.md"), "real/notes.md")
        XCTAssertTrue(try String(contentsOfFile: root + "/nb/real/notes.md", encoding: .utf8).contains("fmnist-small"))
    }

    func testSimulatesPlacementFilesAreCheckedLikeOtherPaths() throws {
        for (block, expected) in [("simulate runs/a --devices 2 --save-placement ../p.json", "--save-placement '../p.json' is outside"),
                                  ("simulate runs/a --devices 2 --placement=../p.json", "'../p.json'")] {
            let notebook = root + "/nb/placement.md"
            let text = "```switchyard\n\(block)\n```\n"
            try text.write(toFile: notebook, atomically: false, encoding: .utf8)
            let result = try switchyard(["notebook", "run", "nb/placement.md", "--dry-run"])
            XCTAssertNotEqual(result.status, 0, block)
            XCTAssertTrue(result.errors.contains(expected), "\(block): \(result.errors)")
        }
    }

    func testDryRunChecksWithoutRunningAndNotebooksCannotRecurse() throws {
        XCTAssertEqual(NotebookRunCommand.allowedSubcommands,
                       ["train", "eval", "analyze", "simulate", "report", "compare", "presets", "routers", "bench", "sweep"])
        XCTAssertEqual(Set(NotebookRunCommand.nestedRules["sweep"].map { Array($0.allowed.keys) } ?? []), ["plan", "run", "status", "report"],
                       "sweep in part: never task, and run only on this machine")
        let notebook = root + "/nb/dry.md"
        let text = "```switchyard\ntrain --preset tiny --out runs/t\n```\n"
        try text.write(toFile: notebook, atomically: false, encoding: .utf8)
        var command = try SwitchyardCommand.parseAsRoot(["notebook", "run", notebook, "--dry-run"])
        try command.run()
        XCTAssertEqual(try String(contentsOfFile: notebook, encoding: .utf8), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/nb/runs"), "a dry run runs nothing")

        try "```switchyard\nnotebook run dry.md\n```\n".write(toFile: notebook, atomically: false, encoding: .utf8)
        command = try SwitchyardCommand.parseAsRoot(["notebook", "run", notebook, "--dry-run"])
        XCTAssertThrowsError(try command.run()) { error in
            XCTAssertTrue("\(error)".contains("line 2: 'notebook' is not a subcommand a notebook may run"), "\(error)")
        }
    }
}
