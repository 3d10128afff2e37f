import Foundation
import SwitchyardTraining

/// One run of a sweep: a line of `manifest.jsonl`.
public struct SweepRun: Codable, Equatable, Sendable {
    /// Its position in the manifest, from 0 (the Slurm array task id).
    public var index: Int
    /// ``RunID`` of the configuration.
    public var id: String
    /// The spec's own settings for this run (grid values, variant, seed) as [path, value].
    public var settings: [[String]]
    /// The resolved configuration.
    public var configuration: TrainingConfiguration
    /// The command that runs it, from the sweep directory.
    public var command: String

    /// A run with its derived command.
    public init(index: Int, id: String, settings: [[String]], configuration: TrainingConfiguration) {
        self.index = index
        self.id = id
        self.settings = settings
        self.configuration = configuration
        command = "switchyard train --config \(SweepRun.configPath(id)) --out \(SweepRun.runPath(id))"
    }

    /// The run directory, relative to the sweep directory.
    public var runPath: String { SweepRun.runPath(id) }
    /// The configuration file, relative to the sweep directory.
    public var configPath: String { SweepRun.configPath(id) }

    static func runPath(_ id: String) -> String { "runs/\(id)" }
    static func configPath(_ id: String) -> String { "configs/\(id).json" }

    /// "model.router=switch, seed=0".
    public var label: String {
        settings.map { $0.joined(separator: "=") }.joined(separator: ", ")
    }
}
