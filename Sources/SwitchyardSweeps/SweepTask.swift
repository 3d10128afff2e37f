import Foundation
import SwitchyardFileIO
#if canImport(Glibc)
import Glibc
#endif

/// Runs one line of a manifest: what `switchyard sweep task DIR --index I` does, for the local
/// executor's processes and for each Slurm array task alike.
///
/// It takes the run's lock, reads the run directory (complete: nothing to do; another
/// configuration: refused and recorded; interrupted: resumed with its own thread count), and
/// runs `switchyard train` as a child process, passing standard error through and keeping its
/// last lines. A failure is recorded in `state/ID.failure.json`.
///
/// Signals. Outside Slurm, the child has its own process group and this process forwards
/// SIGINT and SIGTERM to it (a second one stops it at once, as for `train`). Under Slurm
/// (`--slurm`, given by the batch script), Slurm signals every process of the job itself, so SIGTERM and SIGINT
/// are not forwarded (the child would get two); SIGUSR1, which the batch script passes on when
/// the time limit nears (`--signal=B:USR1@…`), becomes SIGTERM for the child: it writes its
/// checkpoint and this task requeues itself with `scontrol requeue`.
public struct SweepTask {
    /// How the attempt ended.
    public enum Result: Equatable, Sendable {
        /// The run was already complete.
        case skipped
        /// The run finished now.
        case completed
        /// Stopped by a signal after writing its checkpoint; `requeued` when Slurm got it back in the queue.
        case interrupted(requeued: Bool)
        /// Another process holds the run's lock.
        case busy
        /// Failed; recorded.
        case failed(FailureRecord)

        /// The exit status `sweep task` ends with.
        public var exitStatus: Int32 {
            switch self {
            case .skipped, .completed: return 0
            case .interrupted(let requeued): return requeued ? 0 : 143
            case .busy: return 75
            case .failed: return 1
            }
        }
    }

    /// The sweep.
    public var manifest: SweepManifest
    /// The run.
    public var run: SweepRun
    /// Threads for a run that starts now (nil: the manifest's); a resumed run keeps its own.
    public var threads: Int?
    /// The `switchyard` executable to train with.
    public var executable: String
    /// Whether this is a Slurm array task (the batch script says so with `--slurm`).
    public var slurm: Bool
    /// Where progress lines go (standard error by default).
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(("sweep task: " + $0 + "\n").utf8)) }

    /// A task for run `index` of `manifest`.
    public init(manifest: SweepManifest, index: Int, threads: Int?, slurm: Bool = false, executable: String? = nil) throws {
        self.slurm = slurm
        self.manifest = manifest
        run = try manifest.run(at: index)
        self.threads = threads
        self.executable = executable ?? ChildProcess.currentExecutable
    }

    private var slurmJob: String? {
        guard slurm else { return nil }
        let env = ProcessInfo.processInfo.environment
        guard let job = env["SLURM_JOB_ID"] else { return nil }
        if let array = env["SLURM_ARRAY_JOB_ID"], let task = env["SLURM_ARRAY_TASK_ID"] { return "\(array)_\(task)" }
        return job
    }

    /// Runs the task.
    public func execute() throws -> Result {
        let sweep = manifest.directory
        let id = run.id
        // Signals are caught from the start: one that comes before the training has started
        // is passed on as soon as it has.
        let underSlurm = slurm
        let box = ChildBox()
        let requeueAsked = Flag()
        var sources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM, SIGUSR1] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if number == SIGUSR1 {
                    requeueAsked.set()
                    box.send(SIGTERM)
                } else if !underSlurm {
                    box.send(number)
                }
            }
            source.resume()
            sources.append(source)
        }
        defer {
            for source in sources { source.cancel() }
            for number in [SIGINT, SIGTERM, SIGUSR1] { signal(number, SIG_DFL) }
        }
        guard let lock = try RunLock(path: manifest.path("state/\(id).lock")) else {
            log("run \(run.index) (\(id)) is being run by another process (its lock \(manifest.path("state/\(id).lock")) is held); left alone")
            return .busy
        }
        defer { withExtendedLifetime(lock) {} }
        let state = RunState.of(run, in: sweep)
        var resume = false
        var threadCount = threads ?? run.configuration.threads
        switch state {
        case .done:
            log("run \(run.index) (\(id)) is complete; skipped")
            FailureRecord.clear(sweep: sweep, id: id)
            return .skipped
        case .foreign(let why):
            let record = FailureRecord(reason: "refused: \(why); it is left as it is (move it away to run this run)",
                                       lastLines: [], host: hostName(), slurmJob: slurmJob)
            try record.write(sweep: sweep, id: id)
            log("run \(run.index) (\(id)): \(record.reason)")
            return .failed(record)
        case .interrupted(let epochs, let checkpoint, let saved):
            resume = true
            if saved != threadCount {
                log("run \(run.index) (\(id)) started with \(saved) threads: it resumes with \(saved) (same numbers as an uninterrupted run)")
                threadCount = saved
            }
            log("run \(run.index) (\(id)): resuming (\(epochs) epochs done, checkpoint \(checkpoint ?? "none yet"))")
        case .pending:
            break
        }
        FailureRecord.clear(sweep: sweep, id: id)
        var arguments = [executable, "train", "--config", absolute(run.configPath), "--threads", String(threadCount),
                         "--out", absolute(run.runPath)]
        if resume { arguments.append("--resume") }

        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw InputError(message: "cannot create a pipe (\(String(cString: strerror(errno))))") }
        _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
        let child: ChildProcess
        do {
            child = try ChildProcess(arguments: arguments, stderrTo: pipe[1], newProcessGroup: !underSlurm)
        } catch {
            close(pipe[0]); close(pipe[1])
            throw error
        }
        close(pipe[1])
        let readEnd = pipe[0]
        let tail = TailBuffer(lines: 20)
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(readEnd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                _ = buffer.withUnsafeBytes { write(2, $0.baseAddress, n) }
                tail.append(buffer[0..<n])
            }
            close(readEnd)
            tail.finish()
        }
        reader.start()
        box.set(child)
        let outcome = child.wait()
        tail.waitUntilFinished()

        if outcome == .exited(0), case .done = RunState.of(run, in: sweep) {
            return .completed
        }
        // Stopped by SIGTERM or SIGINT: with its checkpoint, or (signalled before it had set up
        // its handler) with the checkpoints it had.
        let interrupted = [.exited(128 + SIGTERM), .exited(128 + SIGINT), .signalled(SIGTERM), .signalled(SIGINT)].contains(outcome)
        let resumable: Bool
        switch RunState.of(run, in: sweep) {
        case .interrupted, .pending: resumable = true
        default: resumable = false
        }
        if interrupted, resumable {
            if requeueAsked.isSet, let job = slurmJob {
                log("run \(run.index) (\(id)): checkpoint written before the time limit; requeueing \(job)")
                let requeue = try ChildProcess(arguments: [SlurmCommands.path("scontrol") ?? "scontrol", "requeue", job],
                                               newProcessGroup: false).wait()
                if requeue == .exited(0) { return .interrupted(requeued: true) }
                let record = FailureRecord(reason: "interrupted before the time limit, but `scontrol requeue \(job)` failed (\(requeue.description)); submit the sweep again to resume it",
                                           lastLines: tail.lines, host: hostName(), slurmJob: slurmJob)
                try record.write(sweep: sweep, id: id)
                return .failed(record)
            }
            log("run \(run.index) (\(id)): interrupted; its checkpoint is kept and the next `sweep run` resumes it")
            return .interrupted(requeued: false)
        }
        let reason = outcome == .exited(0) ? "train exited 0 but the run has no summary.json" : "train: \(outcome.description)"
        let record = FailureRecord(reason: reason, lastLines: tail.lines, host: hostName(), slurmJob: slurmJob)
        try record.write(sweep: sweep, id: id)
        log("run \(run.index) (\(id)) failed: \(reason)")
        return .failed(record)
    }

    private func absolute(_ relative: String) -> String {
        let path = manifest.path(relative)
        return ((path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path) as NSString).standardizingPath
    }
}

func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    return String(cString: buffer)
}

/// The child process, once started, for the signal handlers.
/// A signal sent before it has started waits for it.
final class ChildBox: @unchecked Sendable {
    private let lock = NSLock()
    private var child: ChildProcess?
    private var waiting: Int32?

    func set(_ child: ChildProcess) {
        lock.lock()
        self.child = child
        if let waiting { child.send(waiting) }
        lock.unlock()
    }

    func send(_ signal: Int32) {
        lock.lock()
        if let child { child.send(signal) } else if waiting == nil { waiting = signal }
        lock.unlock()
    }
}

/// A thread-safe flag.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// The last lines of a byte stream.
final class TailBuffer: @unchecked Sendable {
    private let limit: Int
    private let lock = NSLock()
    private var kept: [String] = []
    private var partial: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    init(lines: Int) { limit = lines }

    func append(_ bytes: ArraySlice<UInt8>) {
        lock.lock()
        defer { lock.unlock() }
        for byte in bytes {
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if !partial.isEmpty { kept.append(String(decoding: partial, as: UTF8.self)) }
                partial.removeAll()
                if kept.count > limit { kept.removeFirst(kept.count - limit) }
            } else {
                partial.append(byte)
            }
        }
    }

    func finish() {
        lock.lock()
        if !partial.isEmpty { kept.append(String(decoding: partial, as: UTF8.self)) }
        if kept.count > limit { kept.removeFirst(kept.count - limit) }
        lock.unlock()
        done.signal()
    }

    func waitUntilFinished() { done.wait() }

    var lines: [String] { lock.lock(); defer { lock.unlock() }; return kept }
}
