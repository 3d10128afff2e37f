import SwitchyardRoutingStatistics
import SwitchyardTraces

/// What the routing sections and findings of a report need, shared by the report on a training
/// run (``RunReport``) and the report on a trace imported from elsewhere (``TraceReport``).
public protocol RoutingReport: Sendable {
    /// The statistics of the trace the report is about (nil when there is none).
    var analysis: TraceAnalysis? { get }
    /// Agreement between consecutive epochs' traces (empty for a single trace).
    var stability: [EpochStability] { get }
    /// Each earlier epoch's router saturation against the last epoch (empty for a single trace).
    var saturation: [RouterSaturation] { get }
    /// The names of the trace's classes (or labels).
    var classNames: [String] { get }
    /// What was routed, for the sections' opening sentence ("the 10,000 test-set tokens after
    /// epoch 3, evaluation mode").
    func routingSubject(_ a: TraceAnalysis) -> String
    /// What the stability section says when there is no agreement across epochs to show (nil:
    /// nothing, for a single trace).
    var missingStabilityNote: String? { get }
}

extension RoutingReport {
    /// A single trace has no earlier epochs.
    public var saturation: [RouterSaturation] { [] }

    /// True when the analysed trace comes from a soft router (trait `router.soft`): its records are
    /// each token's expert of largest combine mass, not what the experts computed.
    var isSoftRouting: Bool { analysis?.metadata["router.soft"] == "true" }

    /// Whether the trace says it holds sequences (a language model's tokens).
    var holdsSequences: Bool { analysis?.metadata[RoutingTrace.kindKey] == RoutingTrace.Kind.sequences.rawValue }
    /// What a label is ("class", or "token id" for sequences of token ids).
    var labelNoun: String { analysis?.metadata["labelKind"] == "token ids" ? "token id" : "class" }
    /// What a position is.
    var positionNoun: String { holdsSequences ? "position in the sequence" : "patch position" }
    /// What the routing groups are.
    var groupNoun: String { holdsSequences ? "sequences" : "batches" }
}
