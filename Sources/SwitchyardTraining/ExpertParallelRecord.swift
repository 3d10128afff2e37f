import SwitchyardParallelism

/// One line of a run's `expert-parallel.jsonl` (written only by expert-parallel runs): what each
/// rank's exchanges cost over a stretch of the run (docs/expert-parallel.md, "Measurements").
public struct ExpertParallelRecord: Codable, Equatable, Sendable {
    /// The step count when the stretch ended.
    public var step: Int
    /// The epoch (0-based while training, the epoch just finished for an evaluation).
    public var epoch: Int
    /// `train`: the training steps since the previous `train` record; `evaluation`: the test
    /// set's forward passes after an epoch.
    public var phase: String
    /// Steps (train) or test batches (evaluation) covered.
    public var batches: Int
    /// Images each rank processed in the stretch, by rank.
    public var images: [Int]
    /// Each rank's measurements, by rank.
    public var ranks: [ExchangeMeasurements]
}
