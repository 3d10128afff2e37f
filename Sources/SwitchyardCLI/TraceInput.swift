import Foundation
import SwitchyardFileIO
import SwitchyardTraces

/// Traces as `analyze` and `report` take them.
enum TraceInput {
    /// The largest expert count analysed: the statistics hold E × E tables of doubles
    /// (top-1 transitions between layers), 128 MiB each at this count.
    static let maximumAnalysedExpertCount = 4096

    /// The trace at `input` as the statistics take it (``prepared(_:input:)``), with the
    /// expert count checked against ``maximumAnalysedExpertCount``.
    static func loadForStatistics(_ input: String, experts: Int?) throws -> RoutingTrace {
        let loaded = try TraceLoader.load(input, expertCount: experts)
        try checkExpertCount(loaded, input: input)
        return prepared(loaded, input: input)
    }

    /// Refuses a trace of more than ``maximumAnalysedExpertCount`` experts.
    static func checkExpertCount(_ trace: RoutingTrace, input: String) throws {
        guard trace.expertCount <= maximumAnalysedExpertCount else {
            let megabytes = trace.expertCount * trace.expertCount * 8 >> 20
            throw InputError(file: input, location: "expert count",
                             message: "\(trace.expertCount) experts; analyze takes at most \(maximumAnalysedExpertCount) (its E × E tables would need \(megabytes) MiB each)")
        }
    }

    /// `trace` with its import warnings and notes printed to stderr and unknown labels
    /// resolved (``RoutingTrace/labelledForStatistics()``).
    static func prepared(_ trace: RoutingTrace, input: String) -> RoutingTrace {
        if let warning = trace.metadata["importWarnings"] { printToStandardError("warning: \(input): \(warning)") }
        if let notes = trace.metadata["importNotes"] { printToStandardError("note: \(input): \(notes)") }
        let (labelled, note) = trace.labelledForStatistics()
        if let note { printToStandardError("note: \(input): \(note)") }
        return labelled
    }

    /// Whether `path` is a run directory written by `switchyard train` (it has a config.json).
    static func isRunDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
    }

    static func printToStandardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
