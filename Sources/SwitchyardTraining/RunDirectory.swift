import SwitchyardFileIO
import Foundation

/// A finished or interrupted run read back from its directory: what `switchyard report`
/// and `switchyard compare` start from.
///
/// ```swift
/// let run = try RunDirectory(path: "runs/ec")
/// print(run.configuration.model.router, run.epochs.last?.testAccuracy ?? .nan)
/// ```
public struct RunDirectory: Sendable {
    /// The directory as given.
    public let path: String
    /// The resolved configuration (`config.json`).
    public let configuration: TrainingConfiguration
    /// Every per-step metrics line (`metrics.jsonl`), in step order.
    public let steps: [StepRecord]
    /// Every per-epoch evaluation (`epochs.jsonl`), in epoch order.
    public let epochs: [EpochRecord]
    /// The summary written when training ended (`summary.json`), nil for an unfinished run.
    public let summary: RunSummary?
    /// An expert-parallel run's per-rank exchange costs (`expert-parallel.jsonl`); empty for a
    /// single-process run.
    public let expertParallel: [ExpertParallelRecord]

    /// Reads `config.json`, `metrics.jsonl`, `epochs.jsonl` and, when present, `summary.json`
    /// and `expert-parallel.jsonl`; a missing or malformed file is an ``InputError`` naming it.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError(file: path, message: "not a run directory (expected the --out directory of `switchyard train`)")
        }
        func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
        configuration = try ConfigurationResolver.resolve(preset: nil, file: file("config.json"), settings: [])
        steps = try MetricsLog.read(StepRecord.self, from: file("metrics.jsonl"))
        epochs = try MetricsLog.read(EpochRecord.self, from: file("epochs.jsonl"))
        guard !epochs.isEmpty else {
            throw InputError(file: file("epochs.jsonl"), message: "no epoch finished yet; report on the run after its first epoch")
        }
        let exchanges = file("expert-parallel.jsonl")
        expertParallel = FileManager.default.fileExists(atPath: exchanges)
            ? try MetricsLog.read(ExpertParallelRecord.self, from: exchanges) : []
        let summaryPath = file("summary.json")
        if FileManager.default.fileExists(atPath: summaryPath) {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: summaryPath)) } catch {
                throw InputError(file: summaryPath, message: "cannot read (\(error.localizedDescription))")
            }
            do { summary = try JSONDecoder().decode(RunSummary.self, from: data) } catch {
                throw InputError(file: summaryPath, message: "not a valid run summary (\(error))")
            }
        } else {
            summary = nil
        }
    }

    /// The router's registered name.
    public var router: String { configuration.model.router }

    /// Final test accuracy: the last epoch's.
    public var finalAccuracy: Float { epochs.last!.testAccuracy }

    /// Training wall time so far, seconds (evaluation excluded).
    public var trainSeconds: Double { summary?.trainSeconds ?? epochs.reduce(0) { $0 + $1.trainSeconds } }

    /// Training images per second over the run.
    public var imagesPerSecond: Double {
        if let summary { return summary.imagesPerSecond }
        let seconds = trainSeconds
        return seconds > 0 ? Double(epochs.last?.step ?? 0) * Double(configuration.batchSize) / seconds : 0
    }

    /// The configuration with the seed cleared: runs whose keys are equal differ only by seed.
    public var configurationIgnoringSeed: TrainingConfiguration {
        var c = configuration
        c.seed = 0
        return c
    }
}
