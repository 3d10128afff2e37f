import Foundation
import SwitchyardFileIO
import SwitchyardTraining

/// Submits a sweep to Slurm as one job array: the runs not complete, not running and not
/// already queued by an earlier submission. Each submission's script is kept as
/// `slurm/submit-K.sbatch` and its job id appended to `slurm/jobs.jsonl`.
public struct SlurmExecutor {
    /// One submission, a line of `slurm/jobs.jsonl`.
    public struct Submission: Codable, Equatable, Sendable {
        /// Slurm's job id.
        public var jobId: String
        /// The script, relative to the sweep directory.
        public var script: String
        /// The manifest indices it runs.
        public var indices: [Int]
    }

    /// What `submit` did.
    public enum Outcome: Equatable, Sendable {
        /// Nothing to run: every run is complete, running or queued.
        case nothingToDo(String)
        /// The script (dry run: not submitted).
        case dryRun(SlurmScript)
        /// Submitted.
        case submitted(Submission, SlurmScript)
    }

    /// The sweep.
    public var manifest: SweepManifest
    /// The job's options.
    public var options: SlurmScript.Options
    /// Threads per run (nil: each run's planned count).
    public var threads: Int?
    /// The `switchyard` executable the tasks run (default: this one).
    public var executable: String

    /// An executor for `manifest`.
    public init(manifest: SweepManifest, options: SlurmScript.Options, threads: Int?, executable: String? = nil) {
        self.manifest = manifest
        self.options = options
        self.threads = threads
        self.executable = executable ?? ChildProcess.currentExecutable
    }

    /// The submissions made so far.
    public static func submissions(sweep: String) throws -> [Submission] {
        let file = (sweep as NSString).appendingPathComponent("slurm/jobs.jsonl")
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        return try MetricsLog.read(Submission.self, from: file)
    }

    /// Writes the script and submits it (or, with `dryRun`, only builds it).
    public func submit(dryRun: Bool) throws -> Outcome {
        try options.validate()
        let sweep = absoluteDirectory()
        if sweep.contains(where: \.isWhitespace) {
            throw InputError(file: sweep, message: "the sweep directory's path has a space, which #SBATCH lines cannot hold; use a path without spaces")
        }
        let earlier = try SlurmExecutor.submissions(sweep: manifest.directory)
        let queued = SlurmCommands.queuedTasks(jobs: earlier.map(\.jobId))
        var todo: [Int] = []
        var reasons: [String: Int] = [:]
        for run in manifest.runs {
            if case .done = RunState.of(run, in: manifest.directory) { reasons["complete", default: 0] += 1; continue }
            if RunLock.isHeld(path: manifest.path("state/\(run.id).lock")) { reasons["running", default: 0] += 1; continue }
            let inQueue = earlier.contains { s in s.indices.contains(run.index) && queued["\(s.jobId)_\(run.index)"] != nil }
            if inQueue { reasons["queued", default: 0] += 1; continue }
            todo.append(run.index)
        }
        guard !todo.isEmpty else {
            let why = reasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            return .nothingToDo("nothing to submit: of \(manifest.runs.count) runs, \(why)")
        }
        let script = SlurmScript(sweepDirectory: sweep, indices: todo, executable: executable, threads: threads, options: options)
        if dryRun { return .dryRun(script) }
        guard let sbatch = SlurmCommands.path("sbatch") else {
            throw InputError(location: "--executor slurm", message: "Slurm is not installed here: no sbatch on PATH. Run on a cluster's login node, use --dry-run to see the script, or --executor local")
        }
        let relative = "slurm/submit-\(earlier.count + 1).sbatch"
        let scriptPath = manifest.path(relative)
        try AtomicFile.write(script.text, to: scriptPath)
        try FileManager.default.createDirectory(atPath: manifest.path("logs"), withIntermediateDirectories: true)
        guard let output = SlurmCommands.run((sbatch as NSString).lastPathComponent, ["--parsable", scriptPath]) else {
            throw InputError(location: "--executor slurm", message: "Slurm is not installed here: no sbatch on PATH")
        }
        let jobId = output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard output.status == 0, !jobId.isEmpty, jobId.allSatisfy(\.isNumber) else {
            try? FileManager.default.removeItem(atPath: scriptPath)
            let said = (output.standardError + output.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)
            throw InputError(file: sbatch, message: "submission failed (exit status \(output.status)): \(said.isEmpty ? "no message" : said); nothing was submitted, the runs are as they were")
        }
        let submission = Submission(jobId: jobId, script: relative, indices: todo)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = try (earlier + [submission]).map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
        try AtomicFile.write(lines, to: manifest.path("slurm/jobs.jsonl"))
        return .submitted(submission, script)
    }

    private func absoluteDirectory() -> String {
        let d = manifest.directory
        let path = d.hasPrefix("/") ? d : FileManager.default.currentDirectoryPath + "/" + d
        return (path as NSString).standardizingPath
    }
}
