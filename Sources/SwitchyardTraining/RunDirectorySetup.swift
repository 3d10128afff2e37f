import SwitchyardFileIO
import Foundation

/// What `switchyard train` does to its `--out` directory before training, with the directory's
/// ``RunDirectoryLock`` held: a new run needs an empty directory (or `--overwrite`, which first
/// removes the files an earlier run wrote), a resumed run continues the run that is there with
/// that run's own configuration, and either way temporaries left by dead processes are removed.
public enum RunDirectorySetup {
    /// How a run treats its directory.
    public enum Mode: Sendable, Equatable {
        /// A new run: the directory must be empty (or absent).
        case new
        /// A new run replacing the run in the directory.
        case overwrite
        /// Continue the run in the directory.
        case resume
    }

    /// The files and directories `train` writes in a run directory.
    public static let runFiles = ["config.json", "metrics.jsonl", "epochs.jsonl", "summary.json", "checkpoints", "traces"]

    /// Prepares `directory` (whose lock the caller holds) for a run in `mode` and returns notes
    /// for the user (temporaries removed, files left by `--overwrite`).
    ///
    /// - Throws: an ``InputError`` naming the directory when a new run would mix with what is
    ///   there.
    public static func prepare(_ directory: String, mode: Mode) throws -> [String] {
        var notes: [String] = []
        let removed = removeStaleTemporaries(in: directory)
        if removed > 0 {
            notes.append("removed \(removed) temporary file\(removed == 1 ? "" : "s") left by a process that died while writing")
        }
        guard mode != .resume else { return notes }
        let entries = contents(of: directory)
        guard !entries.isEmpty else { return notes }
        if mode == .new {
            let isRun = entries.contains { runFiles.contains($0) }
            throw InputError(file: directory, message: """
                \(isRun ? "holds a run" : "is not empty") (\(entries.prefix(6).joined(separator: ", "))\
                \(entries.count > 6 ? ", …" : "")); continue it with --resume, replace it with --overwrite \
                (removes the earlier run's logs, checkpoints and traces), or choose another --out
                """)
        }
        for name in ["config.json", "metrics.jsonl", "epochs.jsonl", "summary.json"] {
            try remove((directory as NSString).appendingPathComponent(name))
        }
        for (subdirectory, pattern) in [("checkpoints", ".ckpt"), ("traces", ".sytrace")] {
            let path = (directory as NSString).appendingPathComponent(subdirectory)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where name.hasSuffix(pattern) {
                try remove((path as NSString).appendingPathComponent(name))
            }
            rmdir(path)   // only if nothing else is left in it
        }
        let left = contents(of: directory)
        if !left.isEmpty {
            notes.append("--overwrite removed the earlier run's files; left in place (not written by train): \(left.joined(separator: ", "))")
        }
        return notes
    }

    /// The entries of `directory` but its lock file, sorted.
    static func contents(of directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0 != RunDirectoryLock.fileName }.sorted()
    }

    private static func remove(_ path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw InputError(file: path, message: "--overwrite cannot remove it (\(error.localizedDescription))")
        }
    }

    /// Removes the temporaries of ``AtomicFile`` (`.NAME.tmp-PID`) in the run directory, its
    /// `checkpoints/` and `traces/` whose process no longer exists; returns how many.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> Int {
        var removed = 0
        for sub in ["", "checkpoints", "traces"] {
            let path = sub.isEmpty ? directory : (directory as NSString).appendingPathComponent(sub)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                guard let pid = temporaryOwner(name), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
                if unlink((path as NSString).appendingPathComponent(name)) == 0 { removed += 1 }
            }
        }
        return removed
    }

    /// The pid of an ``AtomicFile`` temporary's name (`.NAME.tmp-PID`), or nil.
    static func temporaryOwner(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), let range = name.range(of: ".tmp-", options: .backwards),
              let pid = pid_t(name[range.upperBound...]), pid > 0 else { return nil }
        return pid
    }

    /// The configuration of the run in `directory` (its `config.json`, validated), or nil when
    /// there is none.
    ///
    /// - Throws: an ``InputError`` naming `config.json` when it is there but damaged: a resume
    ///   never falls back to another configuration.
    public static func savedConfiguration(in directory: String) throws -> TrainingConfiguration? {
        let file = (directory as NSString).appendingPathComponent("config.json")
        var status = stat()
        guard lstat(file, &status) == 0 else { return nil }
        return try ConfigurationResolver.resolve(preset: nil, file: file, settings: [])
    }

    /// The error for `--resume` in a directory without `config.json` when the command line
    /// does not give the configuration (`--preset` or `--config`) either.
    public static func missingConfiguration(in directory: String) -> InputError {
        InputError(file: (directory as NSString).appendingPathComponent("config.json"), message: """
            \(FileManager.default.fileExists(atPath: directory) ? "missing" : "missing (there is no run directory)"): \
            --resume continues a run with its own configuration; if the run stopped before it wrote one, give \
            the run's options again, starting with --preset or --config (its checkpoints are checked against them)
            """)
    }

    /// Checks that `requested` (the command line's configuration for `--resume`) changes
    /// nothing of the run's `saved` configuration but `epochs`.
    ///
    /// - Throws: an ``InputError`` naming `config.json` of `directory` and every changed field.
    public static func checkResume(of directory: String, saved: TrainingConfiguration, requested: TrainingConfiguration) throws {
        var comparable = requested
        comparable.epochs = saved.epochs
        let changed = differences(saved, comparable)
        guard changed.isEmpty else {
            throw InputError(file: (directory as NSString).appendingPathComponent("config.json"), message: """
                --resume continues the run with its own configuration, but the command line changes \
                \(changed.joined(separator: ", ")); only --epochs may change on --resume (to extend the run): \
                start a new run for another configuration (another --out, or --overwrite)
                """)
        }
    }

    /// The fields where `b` differs from `a`, as `path (a → b)`, by their JSON form.
    public static func differences(_ a: TrainingConfiguration, _ b: TrainingConfiguration) -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let x = try? JSONSerialization.jsonObject(with: encoder.encode(a)),
              let y = try? JSONSerialization.jsonObject(with: encoder.encode(b)) else { return ["configuration"] }
        var result: [String] = []
        func walk(_ x: Any?, _ y: Any?, _ path: String) {
            if let dx = x as? [String: Any], let dy = y as? [String: Any] {
                for key in Set(dx.keys).union(dy.keys).sorted() {
                    walk(dx[key], dy[key], path.isEmpty ? key : "\(path).\(key)")
                }
                return
            }
            let sx = x.map { "\($0)" } ?? "none", sy = y.map { "\($0)" } ?? "none"
            if sx != sy { result.append("\(path) (\(sx) → \(sy))") }
        }
        walk(x, y, "")
        return result
    }
}
