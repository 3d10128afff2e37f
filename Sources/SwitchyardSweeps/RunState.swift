import Foundation
import SwitchyardFileIO
import SwitchyardTraining

/// What a run's directory holds, read from its files: nothing yet, a finished run, an
/// interrupted one (it resumes from its newest checkpoint) or a run of another configuration
/// (refused: a sweep never writes over it).
public enum RunState: Equatable, Sendable {
    /// No directory, or an empty one.
    case pending
    /// `summary.json` is there.
    case done(RunSummary)
    /// Started, not finished: `epochs` evaluated so far, `checkpoint` the newest (nil: none yet),
    /// `threads` the thread count it started with (a resumed run keeps it).
    case interrupted(epochs: Int, checkpoint: String?, threads: Int)
    /// Something else is at the run's path; the message says what.
    case foreign(String)

    /// Reads the directory of `run` in the sweep directory `sweep`.
    public static func of(_ run: SweepRun, in sweep: String) -> RunState {
        let directory = (sweep as NSString).appendingPathComponent(run.runPath)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { return .pending }
        guard isDirectory.boolValue else { return .foreign("\(directory) is a file, not a run directory") }
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        guard let data = FileManager.default.contents(atPath: file("config.json")) else {
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return contents.isEmpty ? .pending
                : .foreign("\(directory) holds files (\(contents.sorted().prefix(3).joined(separator: ", "))) but no config.json")
        }
        guard let saved = try? JSONDecoder().decode(TrainingConfiguration.self, from: data) else {
            return .foreign("\(file("config.json")) is not a training configuration")
        }
        guard RunID.sameExperiment(saved, run.configuration) else {
            return .foreign("\(directory) holds a run of a different configuration (\(differences(saved, run.configuration)))")
        }
        if let summary = FileManager.default.contents(atPath: file("summary.json")),
           let decoded = try? JSONDecoder().decode(RunSummary.self, from: summary) {
            return .done(decoded)
        }
        let epochs = (try? MetricsLog.read(EpochRecord.self, from: file("epochs.jsonl")).count) ?? 0
        var checkpoint = Trainer.checkpoints(in: directory).last.map { ($0.path as NSString).lastPathComponent }
        if FileManager.default.fileExists(atPath: file("checkpoints/interrupted.ckpt")) { checkpoint = "interrupted.ckpt" }
        return .interrupted(epochs: epochs, checkpoint: checkpoint, threads: saved.threads)
    }

    /// How a complete run is described: "test accuracy 71.28%, 602122 parameters (205066 evaluated)".
    public static func describe(_ summary: RunSummary) -> String {
        let parameters = summary.parameterCount == summary.evaluationParameterCount ? "\(summary.parameterCount) parameters"
            : "\(summary.parameterCount) parameters (\(summary.evaluationParameterCount) evaluated)"
        return String(format: "test accuracy %.2f%%, ", summary.testAccuracy * 100) + parameters
    }

    /// The fields where `found` differs from `expected`: "model.router is top-2 there, switch in the manifest".
    static func differences(_ found: TrainingConfiguration, _ expected: TrainingConfiguration) -> String {
        var a = found, b = expected
        a.threads = 0
        b.threads = 0
        let x = Dictionary(JSONOverrides.fields(of: a), uniquingKeysWith: { f, _ in f })
        let y = Dictionary(JSONOverrides.fields(of: b), uniquingKeysWith: { f, _ in f })
        let lines = Set(x.keys).union(y.keys).sorted().filter { x[$0] != y[$0] }
            .map { "\($0) is \(x[$0] ?? "unset") there, \(y[$0] ?? "unset") in the manifest" }
        return lines.prefix(3).joined(separator: "; ")
    }
}
