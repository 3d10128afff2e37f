import CGSL
import SwitchyardTraces

/// A uniform sample of whole units of a trace read in one pass (`analyze --stream --sample N`):
/// routing groups (sequences), else images, else blocks of ``blockTokens`` consecutive tokens,
/// drawn without replacement (a seeded shuffle of the unit indices, the first N kept in trace
/// order), read and analysed in memory with intervals and permutation tests. As for a sampled CSV
/// (docs/statistics.md), the sample's intervals describe what N units say about the population
/// the trace was drawn from; the one-pass numbers are the whole trace's.
public struct StreamSample: Codable, Sendable, Equatable {
    /// Tokens per unit when the trace has neither routing groups nor images.
    public static let blockTokens = 2048
    /// "sequence", "routing group", "image" or "2,048-token block".
    public var unit: String
    /// ``unit`` in the plural.
    public var units: String { unit + "s" }
    public var unitsInTrace: Int
    public var unitsKept: Int
    public var tokens: Int
    public var method: String
    public var analysis: TraceAnalysis

    enum CodingKeys: String, CodingKey {
        case unit, tokens, method, analysis
        case unitsInTrace = "units_in_trace", unitsKept = "units_kept"
    }

    init(_ source: NPYTraceSource, layout: StreamLayout, kind: RoutingTrace.Kind?, units wanted: Int,
         options: AnalysisOptions) throws {
        let n = source.tokenCount
        let starts = layout.unitStarts
            ?? Array(stride(from: 0, to: n, by: Self.blockTokens).map { Int32($0) }) + [Int32(n)]
        let count = starts.count - 1
        unit = layout.imageStarts != nil ? "image" : layout.groupStarts != nil ? (kind == .sequences ? "sequence" : "routing group")
            : "2,048-token block"
        unitsInTrace = count
        var order = Array(0..<count)
        let rng = GSLRandom(seed: options.seed, stream: 13)
        order.withUnsafeMutableBufferPointer { gsl_ran_shuffle(rng.pointer, $0.baseAddress, count, MemoryLayout<Int>.stride) }
        let kept = order.prefix(min(wanted, count)).sorted()
        unitsKept = kept.count
        method = "uniformly without replacement (a seeded shuffle of the \(count) units: GSL's MT19937, seed \(options.seed))"
        var trace = try source.trace(ranges: kept.map { Int(starts[$0])..<Int(starts[$0 + 1]) })
        tokens = trace.tokenCount
        if layout.unknownLabels > 0 { trace = trace.labelledForStatistics().trace }
        var sampleOptions = options
        sampleOptions.source = options.source.map { "\($0) (sample)" }
        analysis = try analyze(trace: trace, options: sampleOptions)
    }
}
