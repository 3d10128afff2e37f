import ArgumentParser
import Foundation
import SwitchyardFileIO
import SwitchyardReports
import SwitchyardSweeps
import SwitchyardTraining

/// `switchyard sweep`: many runs from one spec, on this machine or a Slurm cluster.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a grid of configurations × seeds from one spec, on the local cores or as a Slurm job array.",
        discussion: """
        A spec (YAML or JSON) names a base preset, settings for every run, a grid, variants, \
        seeds and exclusions; `plan` expands it into DIR/manifest.jsonl, one run per line with \
        an id hashed from its resolved configuration. `run` runs the manifest (complete runs \
        are skipped, interrupted ones resume), `status` tells where each run stands, and \
        `report` compares the configurations across seeds. See docs/sweeps.md.

        Example:
          switchyard sweep plan sweeps/routers.yaml --out sweeps/routers
          switchyard sweep run sweeps/routers --executor local --jobs 2 --threads-per-job 1
          switchyard sweep status sweeps/routers
          switchyard sweep report sweeps/routers --out reports/routers
        """,
        subcommands: [SweepPlanCommand.self, SweepRunCommand.self, SweepStatusCommand.self, SweepReportCommand.self,
                      SweepTaskCommand.self]
    )
}

/// `switchyard sweep plan`.
struct SweepPlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Expand a sweep spec into DIR/manifest.jsonl (one run per line) without running anything.",
        discussion: """
        Every run is resolved and validated first: an unknown path, a bad value, an empty \
        grid, an exclusion that matches nothing or two runs with the same configuration are \
        reported with the spec's line, and nothing is written. Planning the same spec into the \
        same directory again changes nothing; a different sweep in that directory is refused.

        Examples:
          switchyard sweep plan sweeps/routers.yaml --out sweeps/routers
        """
    )

    @Argument(help: ArgumentHelp("The sweep spec (.yaml, .yml or .json).", valueName: "spec"))
    var spec: String

    @Option(help: "The sweep directory to write.")
    var out: String

    func run() throws {
        let parsed = try SweepSpec.load(path: spec)
        let runs = try SweepPlan.expand(parsed)
        let manifest = SweepManifest(directory: out, runs: runs)
        let text = String(decoding: FileManager.default.contents(atPath: spec) ?? Data(), as: UTF8.self)
        let ext = (spec as NSString).pathExtension.lowercased()
        try manifest.write(specText: text, specName: ext == "json" ? "spec.json" : "spec.yaml")
        print("\(manifest.file): \(runs.count) runs")
        for run in runs { print("  \(run.index)  \(run.id)  \(run.label)") }
    }
}

/// `switchyard sweep run`.
struct SweepRunCommand: ParsableCommand {
    enum Executor: String, ExpressibleByArgument, CaseIterable { case local, slurm }

    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a sweep's manifest on this machine (--executor local) or submit it as a Slurm job array (--executor slurm).",
        discussion: """
        Local: at most --jobs runs at once, each with --threads-per-job compute threads; a \
        line per run when it starts and ends; complete runs are skipped, interrupted runs \
        resume from their checkpoint (with the thread count they started with), a failed run \
        is recorded (`sweep status` shows its last lines) and the others go on. Exit status 1 \
        when a run failed.

        Slurm: writes DIR/slurm/submit-K.sbatch (one job array, task N = manifest line N, only \
        the runs not complete, running or queued), submits it with sbatch and records the job \
        id in DIR/slurm/jobs.jsonl. Logs go to DIR/logs/slurm-JOB_TASK.out. Tasks checkpoint \
        and requeue themselves when the time limit nears. --dry-run prints the script.

        Examples:
          switchyard sweep run sweeps/routers --executor local --jobs 2 --threads-per-job 1
          switchyard sweep run sweeps/routers --executor slurm --partition cpu --time 2:00:00 --max-parallel 8 --dry-run
        """
    )

    @Argument(help: ArgumentHelp("The sweep directory (from `sweep plan`).", valueName: "dir"))
    var directory: String

    @Option(help: "local or slurm.")
    var executor: Executor

    @Option(help: "Local: runs at once (default: the cores divided by the threads per run).")
    var jobs: Int?

    @Option(name: .customLong("threads-per-job"), help: "Compute threads per run (default: each run's planned threads; Slurm: --cpus-per-task).")
    var threadsPerJob: Int?

    @Option(help: "Slurm: the partition.")
    var partition: String?

    @Option(help: "Slurm: the time limit per task (minutes, HH:MM:SS or D-HH:MM:SS).")
    var time: String?

    @Option(name: .customLong("max-parallel"), help: "Slurm: at most this many array tasks at once (%M).")
    var maxParallel: Int?

    @Option(name: .customLong("cpus-per-task"), help: "Slurm: CPUs per task (default: the threads per run).")
    var cpusPerTask: Int?

    @Option(help: "Slurm: memory per task (--mem, e.g. 4G).")
    var mem: String?

    @Option(help: "Slurm: the account to charge.")
    var account: String?

    @Option(name: .customLong("signal-seconds"), help: "Slurm: seconds before the time limit at which a task checkpoints and requeues.")
    var signalSeconds = 120

    @Option(name: .customLong("sbatch-arg"), help: ArgumentHelp("Slurm: one more #SBATCH option (repeatable), written with =: --sbatch-arg=--qos=short.", valueName: "option"))
    var sbatchArguments: [String] = []

    @Option(name: .customLong("switchyard"), help: "Slurm: the switchyard executable the tasks run (default: this one).")
    var switchyardExecutable: String?

    @Flag(name: .customLong("dry-run"), help: "Slurm: print the sbatch script, submit nothing.")
    var dryRun = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be 1 or more, got \(jobs)") }
        if let t = threadsPerJob, !(1...256).contains(t) { throw ValidationError("--threads-per-job must be 1 to 256, got \(t)") }
        if executor == .local {
            let slurmOnly = [("--partition", partition != nil), ("--time", time != nil), ("--max-parallel", maxParallel != nil),
                             ("--cpus-per-task", cpusPerTask != nil), ("--mem", mem != nil), ("--account", account != nil),
                             ("--sbatch-arg", !sbatchArguments.isEmpty), ("--dry-run", dryRun), ("--switchyard", switchyardExecutable != nil)]
            if let given = slurmOnly.first(where: \.1) { throw ValidationError("\(given.0) is for --executor slurm") }
        } else if jobs != nil {
            throw ValidationError("--jobs is for --executor local; with Slurm use --max-parallel")
        }
    }

    func run() throws {
        let manifest = try SweepManifest.read(directory: directory)
        switch executor {
        case .local:
            let threads = threadsPerJob
            let perRun = threads ?? manifest.runs.map(\.configuration.threads).max() ?? 1
            let cores = ProcessInfo.processInfo.activeProcessorCount
            let executor = LocalExecutor(manifest: manifest, jobs: jobs ?? max(1, cores / perRun), threads: threads)
            let summary = try executor.run()
            var parts = ["\(summary.completed) completed now", "\(summary.skipped) complete before"]
            if !summary.failed.isEmpty { parts.append("\(summary.failed.count) failed (runs \(summary.failed.map(String.init).joined(separator: ", ")))") }
            if !summary.interrupted.isEmpty { parts.append("\(summary.interrupted.count) interrupted") }
            if !summary.busy.isEmpty { parts.append("\(summary.busy.count) run by another process") }
            if summary.notStarted > 0 { parts.append("\(summary.notStarted) not started") }
            print("sweep \(directory): \(parts.joined(separator: ", "))")
            if summary.allComplete {
                print("compare them with: switchyard sweep report \(directory) --out REPORT_DIR")
            } else {
                print("see `switchyard sweep status \(directory)`; `sweep run` again resumes what is left")
                throw ExitCode(summary.failed.isEmpty ? 130 : 1)
            }
        case .slurm:
            let threads = threadsPerJob
            let perRun = threads ?? manifest.runs.map(\.configuration.threads).max() ?? 1
            let name = "sweep-" + ((directory as NSString).standardizingPath as NSString).lastPathComponent
            let options = SlurmScript.Options(partition: partition, time: time, maxParallel: maxParallel,
                                              cpusPerTask: cpusPerTask ?? perRun, memory: mem, account: account,
                                              signalSeconds: signalSeconds, extraArguments: sbatchArguments,
                                              jobName: name.filter { $0.isLetter || $0.isNumber || "-_.".contains($0) })
            let executor = SlurmExecutor(manifest: manifest, options: options, threads: threads, executable: switchyardExecutable)
            switch try executor.submit(dryRun: dryRun) {
            case .nothingToDo(let why):
                print("sweep \(directory): \(why)")
            case .dryRun(let script):
                print(script.text, terminator: "")
            case .submitted(let submission, let script):
                print("sweep \(directory): submitted Slurm job \(submission.jobId), array \(script.array) (\(submission.indices.count) runs)")
                print("script \(manifest.path(submission.script)); logs \(manifest.path("logs"))/slurm-\(submission.jobId)_N.out")
                print("follow it with: switchyard sweep status \(directory)")
            }
        }
    }
}

/// `switchyard sweep status`.
struct SweepStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Where each run of a sweep stands: done, running, queued, interrupted, failed or pending.",
        discussion: """
        Read from the run directories, the runs' locks and failure records, and for runs \
        submitted to Slurm from squeue and sacct where they answer. Failed runs are shown with \
        their last lines.

        Examples:
          switchyard sweep status sweeps/routers
        """
    )

    @Argument(help: ArgumentHelp("The sweep directory.", valueName: "dir"))
    var directory: String

    func run() throws {
        let manifest = try SweepManifest.read(directory: directory)
        let status = try SweepStatus(manifest: manifest)
        for entry in status.entries {
            let detail = entry.detail.isEmpty ? "" : "  \(entry.detail)"
            print("\(entry.run.index)  \(entry.run.id)  \(entry.standing.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(entry.run.label)\(detail)")
            for line in entry.lastLines.suffix(5) { print("      | \(line)") }
        }
        print("sweep \(directory): \(manifest.runs.count) runs: \(status.counts)")
    }
}

/// `switchyard sweep report`.
struct SweepReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Compare a sweep's configurations across seeds: the comparison report of `switchyard compare` over its complete runs.",
        discussion: """
        Runs that differ only by seed form a group; the report gives each group's means with \
        intervals across seeds, Welch's tests between groups, charts and findings (see \
        `switchyard compare --help` and docs/reports.md). Runs not complete yet are left out \
        and listed.

        --only and --skip compare part of a sweep: PATH=V1,V2 names a path of the runs' \
        config.json (model.router, model.experts, model.routerOptions.k, seed) and its values; \
        --only keeps the runs with one of the values (every --only must hold), --skip leaves \
        them out; several conditions in one argument, separated by spaces, must all hold \
        (--skip "model.router=top-k model.routerOptions.k=2"). A router option a run was not \
        given has the value its router resolved it to (k=2 for top-k's default). A path or \
        value no run has is refused, so a typo never selects silently.

        Examples:
          switchyard sweep report sweeps/routers --out reports/routers
          switchyard sweep report sweeps/grid --out reports/k1 --only model.routerOptions.k=1
          switchyard sweep report sweeps/grid --out reports/no-dense --skip model.router=dense --only seed=0,1
        """
    )

    @Argument(help: ArgumentHelp("The sweep directory.", valueName: "dir"))
    var directory: String

    @Option(help: "Directory to write report.md and charts/ to.")
    var out: String

    @Option(help: ArgumentHelp("Compare only the runs with one of these values at this configuration path (repeatable; all must hold).", valueName: "path=v1,v2"))
    var only: [String] = []

    @Option(help: ArgumentHelp("Leave out the runs with one of these values at this configuration path (repeatable).", valueName: "path=v1,v2"))
    var skip: [String] = []

    @Option(help: "Confidence level of the intervals across seeds.")
    var confidence = 0.95

    @Option(help: "Adjustment of each family of tests: holm (family-wise error, the default) or bh (Benjamini–Hochberg false discovery rate; exploratory).")
    var correction: MultipleComparisonCorrection = .holm

    @OptionGroup var analysis: ResamplingOptions

    func validate() throws {
        guard confidence > 0 && confidence < 1 else { throw ValidationError("--confidence must be in (0, 1), got \(confidence)") }
    }

    func run() throws {
        let manifest = try SweepManifest.read(directory: directory)
        // Each run's directory read once: the selection needs complete runs' resolved options.
        var summaries: [String: RunSummary] = [:]
        for run in manifest.runs {
            if case .done(let summary) = RunState.of(run, in: directory) { summaries[run.id] = summary }
        }
        let selected = try RunSelection(only: only, skip: skip).apply(to: manifest.runs, file: manifest.file) {
            summaries[$0.id]?.routerOptions ?? [:]
        }
        var complete: [String] = []
        var missing: [String] = []
        for run in selected {
            if summaries[run.id] != nil { complete.append(manifest.path(run.runPath)) } else {
                missing.append("\(run.index) (\(run.label))")
            }
        }
        guard complete.count >= 2 else {
            throw InputError(file: manifest.file, message: "\(complete.count) of \(selected.count) runs\(selected.count < manifest.runs.count ? " selected" : "") are complete; a report needs at least two (see `switchyard sweep status \(directory)`)")
        }
        let reports = try complete.map { try RunReport.load(run: $0, options: analysis.options) }
        let comparison = ComparisonReport(runs: reports, confidence: confidence, correction: correction)
        let written = try comparison.document().write(to: out)
        let part = selected.count < manifest.runs.count ? " selected of \(manifest.runs.count)" : ""
        print("## Sweep \(directory): \(complete.count) of \(selected.count) runs\(part), \(comparison.groups.count) configurations\n")
        if !missing.isEmpty { print("Not complete, left out: \(missing.joined(separator: "; ")).\n") }
        print("Written to [\(written)](\(written)).\n")
        for finding in comparison.findings() { print("- \(finding)") }
        print("")
        print(comparison.sideBySideTable())
    }
}

/// `switchyard sweep task`: runs one manifest line (what each local process and Slurm array task runs).
struct SweepTaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Run one run of a sweep's manifest (what the executors start; rarely typed by hand).",
        discussion: """
        Takes the run's lock, skips a complete run, refuses a run directory of another \
        configuration, resumes an interrupted run, and records a failure in \
        DIR/state/ID.failure.json. Exit status: 0 done, 1 failed, 75 run by another process, \
        143 interrupted (checkpoint written).
        """
    )

    @Argument(help: ArgumentHelp("The sweep directory.", valueName: "dir"))
    var directory: String

    @Option(help: "The manifest line (from 0).")
    var index: Int

    @Option(help: "Compute threads for a run that starts now (default: its planned threads).")
    var threads: Int?

    @Flag(help: "Run as a Slurm array task (the batch script passes it): SIGUSR1 checkpoints and requeues.")
    var slurm = false

    func run() throws {
        let manifest = try SweepManifest.read(directory: directory)
        let result = try SweepTask(manifest: manifest, index: index, threads: threads, slurm: slurm).execute()
        if result.exitStatus != 0 { throw ExitCode(result.exitStatus) }
    }
}
