import SwitchyardFileIO
import XCTest
@testable import SwitchyardNotebooks

/// The notebook's directories: what its blocks may read and write, and what they may run.
final class NotebookPolicyTests: XCTestCase {
    var root: String!
    var work: String { root + "/work" }
    var data: String { root + "/data" }
    var policy: NotebookPolicy!

    override func setUpWithError() throws {
        root = try PhysicalPath.resolve(NSTemporaryDirectory() + "notebook-policy-\(UUID().uuidString)")
        let fm = FileManager.default
        for dir in ["work/runs/a", "data", "outside/deep"] {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        try fm.createSymbolicLink(atPath: work + "/link-out", withDestinationPath: root + "/outside")
        try fm.createSymbolicLink(atPath: work + "/link-in", withDestinationPath: "runs")
        try fm.createSymbolicLink(atPath: work + "/runs/up", withDestinationPath: root + "/outside/deep")
        try fm.createSymbolicLink(atPath: work + "/dangling", withDestinationPath: root + "/outside/none/x")
        policy = try NotebookPolicy(allowedSubcommands: ["train", "analyze", "eval", "routers"], workingDirectory: work,
                                    readableDirectories: [data], outputOptions: ["--out", "--json", "--trace"],
                                    pathOptions: ["--config", "--data-dir"])
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func check(_ line: String) throws -> [String] {
        let tokens = try CommandTokenizer.tokenize(line: line, number: 12, file: "nb.md").tokens
        return try policy.check(tokens, file: "nb.md")
    }

    func assertRefused(_ line: String, _ words: String, file: StaticString = #filePath, lineNumber: UInt = #line) {
        XCTAssertThrowsError(try check(line), line, file: file, line: lineNumber) { error in
            let e = error as? InputError
            XCTAssertEqual(e?.file, "nb.md", line, file: file, line: lineNumber)
            XCTAssertEqual(e?.location, "line 12", line, file: file, line: lineNumber)
            XCTAssertTrue("\(error)".contains(words), "\(line) → \(error)", file: file, line: lineNumber)
        }
    }

    func testRelativePathsInsideAreAccepted() throws {
        XCTAssertEqual(try check("analyze runs/a ./runs/a/../a --json runs/a/analysis.json"),
                       ["analyze", "runs/a", "./runs/a/../a", "--json", "runs/a/analysis.json"])
        XCTAssertNoThrow(try check("train --preset tiny --out runs/new/deeper --set model.width=128 --set x=.5"))
        XCTAssertNoThrow(try check("train --out=runs/b --config=runs/a/config.json --data-dir data"))
        XCTAssertNoThrow(try check("train --out ."), "the working directory itself")
        XCTAssertNoThrow(try check("analyze link-in/a"), "a link inside that stays inside")
        XCTAssertNoThrow(try check("analyze \(work)/runs/a"), "an absolute path inside")
        XCTAssertNoThrow(try check("routers --name switch"))
    }

    func testPathsAfterEverySignInAnArgumentAreChecked() {
        // Issue 22, item 10: the value after the second '=' of --set=KEY=VALUE was never checked.
        assertRefused("train --set=data.directory=/etc --out runs/x", "--set '/etc' is outside the notebook's directories")
        assertRefused("train --set=data.directory=../x --out runs/x", "--set '../x' is outside")
        assertRefused("train --router-option=capacityFactor=../../y --out runs/x", "--router-option '../../y' is outside")
        assertRefused("train --set data.directory=a=/etc", "path '/etc' is outside")
        XCTAssertNoThrow(try check("train --set=data.directory=\(data) --set=data.trainLimit=256 --out runs/x"))
        XCTAssertNoThrow(try check("train --set=data.directory=runs/a --router-option=capacityFactor=2 --out runs/x"))
    }

    func testOutputsStayInTheWritableDirectoriesAndNeverReachTheNotebook() throws {
        try "# nb\n".write(toFile: work + "/nb.md", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: work + "/runs/alias.md", withDestinationPath: "../nb.md")
        policy = try NotebookPolicy(allowedSubcommands: ["train", "analyze", "report"], workingDirectory: work,
                                    writableDirectories: ["runs", "reports"], protectedFiles: [work + "/nb.md"],
                                    outputOptions: ["--out", "--json"])
        XCTAssertNoThrow(try check("analyze runs/a --json reports/a.json"))
        XCTAssertNoThrow(try check("train --out runs/new/deeper"))
        assertRefused("analyze runs/a --json nb.md", "--json 'nb.md' is outside the directories a notebook may write (runs, reports in \(work))")
        assertRefused("report runs/a --out .", "--out '.' is outside the directories a notebook may write")
        assertRefused("report runs/a --out Sources/x", "is outside the directories a notebook may write")
        assertRefused("analyze runs/a --json runs/alias.md", "is outside the directories a notebook may write")
        // With the whole working directory writable, the notebook itself is still protected.
        policy = try NotebookPolicy(allowedSubcommands: ["train", "analyze", "report"], workingDirectory: work,
                                    writableDirectories: ["."], protectedFiles: [work + "/nb.md"], outputOptions: ["--out", "--json"])
        assertRefused("analyze runs/a --json nb.md", "--json 'nb.md' would write over the notebook (\(work)/nb.md)")
        assertRefused("analyze runs/a --json=runs/../nb.md", "would write over the notebook")
        assertRefused("analyze runs/a --json runs/alias.md", "would write over the notebook")
        assertRefused("report runs/a --out .", "would write into a directory holding the notebook")
        XCTAssertNoThrow(try check("report runs/a --out runs/report"))
    }

    func testDotDotEscapesAreRefused() {
        assertRefused("analyze ../outside", "path '../outside' is outside the notebook's directories (\(work), \(data))")
        assertRefused("analyze runs/../../outside/x", "is outside the notebook's directories")
        assertRefused("analyze ../../../../../../../../etc/passwd", "is outside")
        assertRefused("train --out ../escape", "--out '../escape' is outside the notebook's working directory (\(work))")
        assertRefused("analyze --versus=../outside", "is outside")
        assertRefused("analyze -- -x/../../../outside", "path '-x/../../../outside' is outside")
    }

    func testAbsolutePathsOutsideAreRefused() {
        assertRefused("analyze /etc/passwd", "path '/etc/passwd' is outside")
        assertRefused("eval runs/a --trace /tmp/x.sytrace", "--trace '/tmp/x.sytrace' is outside the notebook's working directory")
        assertRefused("train --out=/tmp/x", "--out '/tmp/x' is outside the notebook's working directory")
        assertRefused("analyze runs/a --json /tmp/x.json", "--json '/tmp/x.json' is outside")
        assertRefused("train --set data.directory=/etc", "path '/etc' is outside")
        assertRefused("train --router-option a=../../x", "is outside")
        assertRefused("train --config /etc/hosts", "--config '/etc/hosts' is outside the notebook's directories")
    }

    func testSymbolicLinksAreFollowed() {
        assertRefused("analyze link-out/secret", "path 'link-out/secret' is outside")
        assertRefused("analyze link-out", "path 'link-out' is outside", )
        assertRefused("train --out link-out/run", "--out 'link-out/run' is outside the notebook's working directory")
        assertRefused("train --data-dir link-out", "is outside")
        // The kernel follows runs/up before "..": it leads to outside/, not to runs/.
        assertRefused("analyze runs/up/../secret", "is outside")
        assertRefused("train --out dangling", "symbolic link whose target does not exist")
    }

    func testAllowReadDirectoriesAreForReadingOnly() {
        XCTAssertNoThrow(try check("analyze \(data)/trace.csv --json runs/a/x.json"))
        XCTAssertNoThrow(try check("train --config=\(data)/config.json --data-dir \(data) --out runs/c"))
        XCTAssertNoThrow(try check("analyze ../data"), "relative paths into an allowed directory")
        assertRefused("train --out \(data)/run", "is outside the notebook's working directory")
        assertRefused("analyze runs/a --json=\(data)/analysis.json", "is outside the notebook's working directory")
        assertRefused("eval \(data)/run --trace ../data/t.sytrace", "--trace '../data/t.sytrace' is outside")
    }

    func testTildeEmptyPathsAndSubcommands() {
        assertRefused("analyze '~/runs'", "'~' is not expanded")
        assertRefused("train --out ''", "--out is given an empty path")
        assertRefused("train --out=", "--out is given an empty path")
        assertRefused("notebook run other.md", "'notebook' is not a subcommand a notebook may run; it may run analyze, eval, routers, train")
        assertRefused("rm -rf runs", "'rm' is not a subcommand")
        assertRefused("--help", "'--help' is not a subcommand")
    }

    func testPhysicalPaths() throws {
        XCTAssertEqual(try PhysicalPath.resolve("a/./b//../c", relativeTo: "/x/y"), "/x/y/a/c")
        XCTAssertEqual(try PhysicalPath.resolve("../../../..", relativeTo: "/x"), "/")
        XCTAssertEqual(try PhysicalPath.resolve("link-in/a", relativeTo: work), work + "/runs/a")
        XCTAssertEqual(try PhysicalPath.resolve("runs/up/../y", relativeTo: work), root + "/outside/y")
        XCTAssertThrowsError(try PhysicalPath.resolve("", relativeTo: "/"))
        XCTAssertTrue(PhysicalPath.isInside("/a/b", "/a"))
        XCTAssertTrue(PhysicalPath.isInside("/a", "/a"))
        XCTAssertFalse(PhysicalPath.isInside("/ab", "/a"))
        XCTAssertTrue(PhysicalPath.isInside("/anything", "/"))
    }

    func testSweepRunsInPartAndWritesOnlyWhereABlockMay() throws {
        let rule = NestedSubcommandRule(allowed: ["plan": .read, "run": .written, "status": .read, "report": .read],
                                        refusedValues: ["--executor": (["slurm"], "local only")])
        policy = try NotebookPolicy(allowedSubcommands: ["sweep", "train"], workingDirectory: work,
                                    readableDirectories: [data], writableDirectories: ["runs"],
                                    outputOptions: ["--out"], nestedRules: ["sweep": rule])
        XCTAssertEqual(try check("sweep plan runs/a --out runs/s"), ["sweep", "plan", "runs/a", "--out", "runs/s"])
        XCTAssertNoThrow(try check("sweep run runs/s --executor local --jobs 1 --threads-per-job 2"))
        XCTAssertNoThrow(try check("sweep report runs/s --out runs/r --only model.router=switch"))
        XCTAssertNoThrow(try check("sweep status \(data)"), "status only reads")
        assertRefused("sweep run \(data) --executor local", "outside the directories a notebook may write")
        assertRefused("sweep run runs/s --executor slurm", "sweep run --executor slurm is not something a notebook may run: local only")
        assertRefused("sweep run runs/s --executor=slurm", "--executor slurm")
        assertRefused("sweep task runs/s --index 0", "'sweep task' is not something a notebook may run; it may run sweep plan, sweep report, sweep run, sweep status")
        assertRefused("sweep", "'sweep' alone")
        assertRefused("sweep plan runs/a --out \(data)/s", "outside the directories a notebook may write")
        // A rule changes nothing for other subcommands: train's positional paths are read.
        XCTAssertNoThrow(try check("train --config \(data)"))
    }
}
