import Foundation
import SwitchyardFileIO

/// Why a run's last attempt failed (`state/ID.failure.json`): written by the task that ran it,
/// removed when the run is attempted again. `sweep status` shows it with the run.
public struct FailureRecord: Codable, Equatable, Sendable {
    /// What happened: "exit status 1", "killed by signal 9 (SIGKILL)", "refused: …".
    public var reason: String
    /// The last lines the run wrote to standard error.
    public var lastLines: [String]
    /// The host it ran on.
    public var host: String
    /// The Slurm job and array task, when it ran under Slurm.
    public var slurmJob: String?

    /// The record's path for run `id` in sweep directory `sweep`.
    public static func path(sweep: String, id: String) -> String {
        (sweep as NSString).appendingPathComponent("state/\(id).failure.json")
    }

    /// The record of run `id`, if its last attempt failed.
    public static func read(sweep: String, id: String) -> FailureRecord? {
        guard let data = FileManager.default.contents(atPath: path(sweep: sweep, id: id)) else { return nil }
        return (try? JSONDecoder().decode(FailureRecord.self, from: data))
            ?? FailureRecord(reason: "unreadable failure record", lastLines: [], host: "", slurmJob: nil)
    }

    /// Writes the record (atomically).
    public func write(sweep: String, id: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(self), to: FailureRecord.path(sweep: sweep, id: id))
    }

    /// Removes the record of run `id`.
    public static func clear(sweep: String, id: String) {
        try? FileManager.default.removeItem(atPath: path(sweep: sweep, id: id))
    }
}
