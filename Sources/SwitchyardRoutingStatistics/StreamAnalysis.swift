import SwitchyardFileIO
import SwitchyardTraces

/// The one-pass analysis of an NPY trace (`analyze --stream`): every statistic that needs no
/// resampling, computed chunk by chunk so that memory holds one chunk and the count tables, not
/// the trace (docs/statistics.md, "One pass over chunks"). Loads, affinity, heterogeneity,
/// router confidence and entropy, layer transitions, neighbour agreement, co-activation,
/// vocabulary and domain specialisation and shared-expert shares come out as
/// ``analyze(trace:options:)`` gives them with no bootstrap and no permutations — the same bits,
/// because every count and sum runs over the tokens in order — except that the shared-expert
/// gate's quartiles are left out (they need every gate). Chunks hold at most `tokensPerChunk`
/// tokens (``defaultChunkTokens(_:)`` when nil), cut at image or routing-group boundaries where
/// they can be (an image is never cut, a longer routing group is). With `sampleUnits`, that many whole
/// units are also drawn uniformly without replacement and analysed in memory with `given`'s
/// intervals and tests (``StreamSample``).
public func analyzeStream(_ source: NPYTraceSource, options given: AnalysisOptions = AnalysisOptions(),
                          tokensPerChunk: Int? = nil, sampleUnits: Int? = nil) throws -> StreamedAnalysis {
    _ = GSLErrorHandling.installed
    var options = given
    options.bootstrapResamples = 0
    options.permutations = 0
    guard source.expertCount <= maximumTableRows else {
        throw InputError(file: options.source, location: "header",
                         message: "expert count is \(source.expertCount), expected at most \(maximumTableRows)")
    }
    let header = streamHeader(source)
    let layout = try StreamLayout(source, kind: header.kind, file: options.source, limits: ResamplingLimits())
    try source.exportMetadata?.check(layerCount: source.layerCount, expertCount: source.expertCount,
                                     tokenCount: source.tokenCount,
                                     domainCount: source.hasDomains ? layout.domainCount : nil, file: source.metadataPath)
    var tallies = StreamTallies(source, layout: layout, header: header, options: options)
    let chunks = layout.chunks(tokens: max(1, tokensPerChunk ?? defaultChunkTokens(source)))
    for range in chunks { try tallies.add(range) }
    var result = StreamedAnalysis(analysis: tallies.analysis(chunks: chunks.count), unknownLabels: layout.unknownLabels)
    if let sampleUnits {
        result.sample = try StreamSample(source, layout: layout, kind: header.kind, units: sampleUnits, options: given)
    }
    return result
}

/// What ``analyzeStream(_:options:tokensPerChunk:)`` returns: the analysis (its metadata holds
/// the reader's warnings and notes), and the tokens whose label is −1, for which the class
/// statistics are left out (every other covers all tokens).
public struct StreamedAnalysis: Sendable {
    public var analysis: TraceAnalysis
    public var unknownLabels: Int
    /// The in-memory analysis of a sample of whole units, when one was asked for.
    public var sample: StreamSample? = nil
}

/// A trace of no tokens that carries what the source's metadata says: block numbers, kind,
/// shared experts, domain names and provenance.
private func streamHeader(_ source: NPYTraceSource) -> RoutingTrace {
    var header = RoutingTrace(expertCount: source.expertCount, tokenCount: source.tokenCount,
                              layers: (0..<source.layerCount).map { LayerRouting(layer: $0, offsets: [0], experts: [], weights: []) })
    source.exportMetadata?.annotate(&header)
    return header
}

/// Tokens per chunk of the one pass: 65,536, fewer when the chunk's full probabilities
/// (tokens × layers × E floats) would exceed 2²⁴ values (64 MiB), at least 256.
public func defaultChunkTokens(_ source: NPYTraceSource) -> Int {
    let perToken = source.probabilityValues > 0 ? source.layerCount * source.expertCount : 1
    return min(1 << 16, max(256, (1 << 24) / perToken))
}
