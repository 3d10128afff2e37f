import Foundation
import SwitchyardFileIO
#if canImport(Glibc)
import Glibc
#endif

/// Runs a sweep on this machine: at most `jobs` runs at once, each a `switchyard sweep task`
/// process (the same as a Slurm array task) with `threads` compute threads, its output in
/// `logs/ID.log`. Complete runs are skipped, interrupted ones resume, a failed run is recorded
/// and the others go on. A progress line is printed when a run starts and ends.
///
/// SIGTERM (or Ctrl-C, which reaches the tasks from the terminal) stops the sweep: no run
/// starts any more, the running ones write their checkpoints, and the next `sweep run` resumes
/// them.
public struct LocalExecutor {
    /// The outcome of the sweep.
    public struct Summary: Equatable, Sendable {
        /// Runs that were already complete.
        public var skipped = 0
        /// Runs completed now.
        public var completed = 0
        /// Runs that failed (indices), with their records.
        public var failed: [Int] = []
        /// Runs interrupted by a signal (their checkpoints are kept).
        public var interrupted: [Int] = []
        /// Runs left alone because another process holds them.
        public var busy: [Int] = []
        /// Runs not started because the sweep was stopped.
        public var notStarted = 0

        /// Whether every run is complete.
        public var allComplete: Bool { failed.isEmpty && interrupted.isEmpty && busy.isEmpty && notStarted == 0 }
    }

    /// The sweep.
    public var manifest: SweepManifest
    /// Runs at once.
    public var jobs: Int
    /// Threads per run (nil: each run's planned count).
    public var threads: Int?
    /// The `switchyard` executable.
    public var executable: String
    /// Where progress lines go.
    public var log: (String) -> Void = { print($0); fflush(stdout) }

    /// An executor for `manifest`.
    public init(manifest: SweepManifest, jobs: Int, threads: Int?, executable: String? = nil) {
        self.manifest = manifest
        self.jobs = max(1, jobs)
        self.threads = threads
        self.executable = executable ?? ChildProcess.currentExecutable
    }

    /// Runs the sweep to the end (or until stopped).
    public func run() throws -> Summary {
        var summary = Summary()
        var queue: [SweepRun] = []
        for run in manifest.runs {
            if case .done = RunState.of(run, in: manifest.directory) { summary.skipped += 1 } else { queue.append(run) }
        }
        let total = manifest.runs.count
        log("sweep \(manifest.directory): \(total) runs, \(summary.skipped) complete already, \(queue.count) to run, "
            + "\(jobs) at once with \(threads.map(String.init) ?? "their planned") threads each")
        try FileManager.default.createDirectory(atPath: manifest.path("logs"), withIntermediateDirectories: true)

        let stop = Flag()
        var running: [(run: SweepRun, child: ChildProcess, started: Double)] = []
        let runningLock = NSLock()
        var sources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                stop.set()
                // Ctrl-C reaches the tasks from the terminal; a SIGTERM sent to this process alone is passed on.
                if number == SIGTERM {
                    runningLock.lock()
                    for entry in running { entry.child.send(SIGTERM) }
                    runningLock.unlock()
                }
            }
            source.resume()
            sources.append(source)
        }
        defer {
            for source in sources { source.cancel() }
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }

        var finished = summary.skipped
        func name(_ run: SweepRun) -> String { "run \(run.index) (\(run.id), \(run.label))" }
        while true {
            runningLock.lock()
            while !stop.isSet, running.count < jobs, !queue.isEmpty {
                let run = queue.removeFirst()
                let logPath = manifest.path("logs/\(run.id).log")
                let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
                guard fd >= 0 else {
                    runningLock.unlock()
                    throw InputError(file: logPath, message: "cannot open the run's log (\(String(cString: strerror(errno))))")
                }
                var arguments = [executable, "sweep", "task", manifest.directory, "--index", String(run.index)]
                if let threads { arguments += ["--threads", String(threads)] }
                let child: ChildProcess
                do {
                    child = try ChildProcess(arguments: arguments, output: fd, newProcessGroup: false)
                } catch {
                    close(fd)
                    runningLock.unlock()
                    throw error
                }
                close(fd)
                running.append((run, child, monotonicSeconds()))
                log("[\(finished)/\(total)] \(name(run)): started, log \(logPath)")
            }
            runningLock.unlock()
            if running.isEmpty { break }
            usleep(100_000)
            runningLock.lock()
            var still: [(run: SweepRun, child: ChildProcess, started: Double)] = []
            var ended: [(SweepRun, ChildProcess.Outcome, Double)] = []
            for entry in running {
                if let outcome = entry.child.poll() { ended.append((entry.run, outcome, monotonicSeconds() - entry.started)) } else { still.append(entry) }
            }
            running = still
            runningLock.unlock()
            for (run, outcome, seconds) in ended {
                finished += 1
                let time = String(format: "%.1f s", seconds)
                let state = RunState.of(run, in: manifest.directory)
                if case .done(let result) = state, outcome == .exited(0) {
                    summary.completed += 1
                    log("[\(finished)/\(total)] \(name(run)): done in \(time), \(RunState.describe(result))")
                } else if outcome == .exited(75) {
                    summary.busy.append(run.index)
                    log("[\(finished)/\(total)] \(name(run)): left alone, another process is running it")
                } else if outcome == .exited(143) || outcome == .exited(130), case .interrupted = state {
                    summary.interrupted.append(run.index)
                    log("[\(finished)/\(total)] \(name(run)): interrupted after \(time); checkpoint kept, `sweep run` again resumes it")
                } else {
                    summary.failed.append(run.index)
                    let record = FailureRecord.read(sweep: manifest.directory, id: run.id)
                    log("[\(finished)/\(total)] \(name(run)): FAILED after \(time): \(record?.reason ?? "sweep task: \(outcome.description)")")
                    for line in (record?.lastLines ?? []).suffix(5) { log("    \(line)") }
                    log("    full log: \(manifest.path("logs/\(run.id).log"))")
                }
            }
        }
        summary.notStarted = queue.count
        return summary
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
