import Foundation

/// Where each run of a sweep stands, from its directory, its lock, its failure record and,
/// for runs submitted to Slurm, `squeue` and `sacct` where they answer.
public struct SweepStatus: Sendable {
    /// A run's standing.
    public enum Standing: String, Sendable, CaseIterable {
        case done, running, queued, interrupted, failed, pending
    }

    /// One run's line.
    public struct Entry: Sendable {
        public var run: SweepRun
        public var standing: Standing
        /// What the standing rests on: "test accuracy 71.25%", "slurm job 12_3 PENDING", the failure's reason.
        public var detail: String
        /// For a failed run: the last lines it wrote.
        public var lastLines: [String]
    }

    /// Every run, in manifest order.
    public var entries: [Entry]

    /// Reads the standing of every run of `manifest`.
    public init(manifest: SweepManifest) throws {
        let sweep = manifest.directory
        let submissions = try SlurmExecutor.submissions(sweep: sweep)
        let jobs = submissions.map(\.jobId)
        let queued = SlurmCommands.queuedTasks(jobs: jobs)
        let accounted = SlurmCommands.accountedTasks(jobs: jobs)
        entries = manifest.runs.map { run in
            // The newest submission that included the run.
            let task = submissions.last { $0.indices.contains(run.index) }.map { "\($0.jobId)_\(run.index)" }
            let slurm = task.flatMap { t in queued[t].map { "slurm job \(t) \($0)" } ?? accounted[t].map { "slurm job \(t) ended \($0)" } }
            let state = RunState.of(run, in: sweep)
            let failure = FailureRecord.read(sweep: sweep, id: run.id)
            if case .done(let summary) = state {
                return Entry(run: run, standing: .done, detail: RunState.describe(summary), lastLines: [])
            }
            if RunLock.isHeld(path: manifest.path("state/\(run.id).lock")) {
                return Entry(run: run, standing: .running, detail: [SweepStatus.progress(state), slurm].compactMap { $0 }.joined(separator: "; "), lastLines: [])
            }
            if let t = task, let s = queued[t] {
                return Entry(run: run, standing: s == "RUNNING" || s == "COMPLETING" ? .running : .queued,
                             detail: [slurm, SweepStatus.progress(state)].compactMap { $0 }.joined(separator: "; "), lastLines: [])
            }
            if let failure {
                return Entry(run: run, standing: .failed, detail: [failure.reason, SweepStatus.progress(state), slurm].compactMap { $0 }.joined(separator: "; "),
                             lastLines: failure.lastLines)
            }
            if case .foreign(let why) = state {
                return Entry(run: run, standing: .failed, detail: "refused: " + why, lastLines: [])
            }
            if case .interrupted = state {
                return Entry(run: run, standing: .interrupted, detail: [SweepStatus.progress(state), slurm].compactMap { $0 }.joined(separator: "; "), lastLines: [])
            }
            return Entry(run: run, standing: .pending, detail: slurm ?? "", lastLines: [])
        }
    }

    static func progress(_ state: RunState) -> String? {
        guard case .interrupted(let epochs, let checkpoint, _) = state else { return nil }
        return "\(epochs) epochs done, checkpoint \(checkpoint ?? "none yet")"
    }

    /// Runs per standing, in `Standing`'s order: "2 done, 1 running, 1 failed".
    public var counts: String {
        Standing.allCases.compactMap { s in
            let n = entries.filter { $0.standing == s }.count
            return n > 0 ? "\(n) \(s.rawValue)" : nil
        }.joined(separator: ", ")
    }
}
