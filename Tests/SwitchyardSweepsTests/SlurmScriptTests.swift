import Foundation
import XCTest
import SwitchyardFileIO
@testable import SwitchyardSweeps

/// The sbatch script says what docs/sweeps.md says it does, bad options are refused before
/// submission, and a missing or failing sbatch is reported without changing the sweep.
/// (scripts/test-sweeps.sh submits to a real single-node Slurm.)
final class SlurmScriptTests: XCTestCase {
    var root: String!
    var savedPath: String?

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-slurm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        savedPath = ProcessInfo.processInfo.environment["PATH"]
    }

    override func tearDownWithError() throws {
        if let savedPath { setenv("PATH", savedPath, 1) }
        try? FileManager.default.removeItem(atPath: root)
    }

    func testArrayRanges() {
        XCTAssertEqual(SlurmScript.arraySpec([0, 1, 2, 3]), "0-3")
        XCTAssertEqual(SlurmScript.arraySpec([3, 1]), "1,3")
        XCTAssertEqual(SlurmScript.arraySpec([0, 1, 2, 5, 7, 8]), "0-2,5,7-8")
        XCTAssertEqual(SlurmScript.arraySpec([4]), "4")
    }

    func testScriptLines() {
        let options = SlurmScript.Options(partition: "cpu", time: "2:00:00", maxParallel: 4, cpusPerTask: 2, memory: "4G",
                                          account: "lab", signalSeconds: 90, extraArguments: ["--qos=short"], jobName: "sweep-grid")
        let script = SlurmScript(sweepDirectory: "/data/sweeps/grid", indices: Array(0..<32), executable: "/opt/bin/switchyard",
                                 threads: 2, options: options)
        XCTAssertEqual(script.array, "0-31%4")
        XCTAssertEqual(script.text, """
            #!/bin/bash
            # Switchyard sweep /data/sweeps/grid: array task N runs line N of manifest.jsonl (docs/sweeps.md).
            #SBATCH --job-name=sweep-grid
            #SBATCH --array=0-31%4
            #SBATCH --ntasks=1
            #SBATCH --cpus-per-task=2
            #SBATCH --output=/data/sweeps/grid/logs/slurm-%A_%a.out
            #SBATCH --open-mode=append
            #SBATCH --signal=B:USR1@90
            #SBATCH --requeue
            #SBATCH --time=2:00:00
            #SBATCH --partition=cpu
            #SBATCH --mem=4G
            #SBATCH --account=lab
            #SBATCH --qos=short
            set -u
            cd '/data/sweeps/grid' || exit 1
            echo "sweep task $SLURM_ARRAY_TASK_ID on $(hostname), job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}, restart ${SLURM_RESTART_COUNT:-0}"
            child=
            trap '[ -n "$child" ] && kill -USR1 "$child" 2>/dev/null' USR1
            trap ':' TERM
            '/opt/bin/switchyard' sweep task . --index "$SLURM_ARRAY_TASK_ID" --slurm --threads 2 &
            child=$!
            status=0
            while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
            exit "$status"

            """)
        let plain = SlurmScript(sweepDirectory: "/s", indices: [1, 3], executable: "/b/switchyard", threads: nil, options: .init())
        XCTAssertEqual(plain.array, "1,3")
        XCTAssertFalse(plain.text.contains("--time"))
        XCTAssertTrue(plain.text.contains("--index \"$SLURM_ARRAY_TASK_ID\" --slurm &\n"))
    }

    func testQueueStatesAreRead() {
        XCTAssertEqual(SlurmCommands.parseStates("12_0|RUNNING\n12_3|PENDING\n13_1|CANCELLED by 0\nnoise\n"),
                       ["12_0": "RUNNING", "12_3": "PENDING", "13_1": "CANCELLED"])
        XCTAssertEqual(SlurmCommands.parseStates(""), [:])
    }

    func testBadOptionsAreRefused() {
        func message(_ options: SlurmScript.Options) -> String {
            do { try options.validate(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message(.init(time: "2h")), "--time: '2h' is not a Slurm time (minutes, MM:SS, HH:MM:SS or D-HH:MM:SS)")
        XCTAssertEqual(message(.init(maxParallel: 0)), "--max-parallel: 0 is not allowed; expected 1 or more")
        XCTAssertEqual(message(.init(partition: "a b")), "--partition: 'a b' is not allowed (empty, or with spaces or quotes)")
        XCTAssertEqual(message(.init(signalSeconds: 0)), "--signal-seconds: 0 is not allowed; expected 1 to 65535 (Slurm's range)")
        XCTAssertEqual(message(.init(extraArguments: ["qos=short"])), "--sbatch-arg: 'qos=short' is not an sbatch option (e.g. --qos=short)")
        XCTAssertEqual(message(.init(time: "1-12:00:00")), "no error")
    }

    func planned() throws -> SweepManifest {
        let spec = "preset: tiny\ngrid:\n  model.router: [switch, top-2]\nseeds: [0, 1]\n"
        let manifest = SweepManifest(directory: root + "/sweep", runs: try SweepPlan.expand(try SweepSpec.parse(spec, file: "s.yaml")))
        try manifest.write(specText: spec, specName: "spec.yaml")
        return manifest
    }

    /// Writes an executable `name` into a fresh PATH directory holding only it.
    func fakeCommand(_ name: String, _ body: String) throws {
        let bin = root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\n\(body)\n".write(toFile: bin + "/" + name, atomically: false, encoding: .utf8)
        chmod(bin + "/" + name, 0o755)
        setenv("PATH", bin, 1)
    }

    func testNoSlurmAndFailingSbatchAreReportedAndChangeNothing() throws {
        let manifest = try planned()
        let executor = SlurmExecutor(manifest: manifest, options: .init(maxParallel: 2), threads: 1, executable: "/b/switchyard")
        setenv("PATH", root + "/empty", 1)
        guard case .dryRun(let script) = try executor.submit(dryRun: true) else { return XCTFail("a dry run needs no Slurm") }
        XCTAssertEqual(script.array, "0-3%2")
        XCTAssertThrowsError(try executor.submit(dryRun: false)) { error in
            XCTAssertEqual("\(error)", "--executor slurm: Slurm is not installed here: no sbatch on PATH. Run on a cluster's login node, use --dry-run to see the script, or --executor local")
        }
        try fakeCommand("sbatch", "echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2; exit 1")
        XCTAssertThrowsError(try executor.submit(dryRun: false)) { error in
            XCTAssertEqual("\(error)", "\(self.root!)/bin/sbatch: submission failed (exit status 1): sbatch: error: Batch job submission failed: Invalid partition name specified; nothing was submitted, the runs are as they were")
        }
        XCTAssertEqual(try SlurmExecutor.submissions(sweep: manifest.directory), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: manifest.path("slurm/submit-1.sbatch")), "the failed script is not left behind")
        // An sbatch that answers something other than a job id is a failure too.
        try fakeCommand("sbatch", "echo 'Submitted batch job'")
        XCTAssertThrowsError(try executor.submit(dryRun: false))
        XCTAssertEqual(try SlurmExecutor.submissions(sweep: manifest.directory), [])
        // A submission is recorded with its job id and script.
        try fakeCommand("sbatch", "echo '4242;cluster'")
        guard case .submitted(let submission, _) = try executor.submit(dryRun: false) else { return XCTFail("not submitted") }
        XCTAssertEqual(submission, .init(jobId: "4242", script: "slurm/submit-1.sbatch", indices: [0, 1, 2, 3]))
        XCTAssertEqual(try SlurmExecutor.submissions(sweep: manifest.directory), [submission])
        XCTAssertEqual(try String(contentsOfFile: manifest.path("slurm/submit-1.sbatch"), encoding: .utf8), script.text)
    }
}
