import CGSL
import SwitchyardFileIO
import SwitchyardTraces

/// The one-pass analysis of an NPY trace (`analyze --stream`): every statistic that needs no
/// resampling, computed chunk by chunk so that memory holds one chunk and the count tables, not
/// the trace (docs/statistics.md, "One pass over chunks"). Loads, affinity, heterogeneity,
/// router confidence and entropy, layer transitions, neighbour agreement, co-activation,
/// vocabulary and domain specialisation and shared-expert shares come out as
/// ``analyze(trace:options:)`` gives them with no bootstrap and no permutations — the same bits,
/// because every count and sum runs over the tokens in order — except that the shared-expert
/// gate's quartiles are left out (they need every gate). Chunks hold about `tokensPerChunk`
/// tokens and are cut at image or routing-group boundaries. With `sampleUnits`, that many whole
/// units are also drawn uniformly without replacement and analysed in memory with `given`'s
/// intervals and tests (``StreamSample``).
public func analyzeStream(_ source: NPYTraceSource, options given: AnalysisOptions = AnalysisOptions(),
                          tokensPerChunk: Int = 1 << 16, sampleUnits: Int? = nil) throws -> StreamedAnalysis {
    _ = GSLErrorHandling.installed
    var options = given
    options.bootstrapResamples = 0
    options.permutations = 0
    let n = source.tokenCount, e = source.expertCount, layerCount = source.layerCount
    guard e <= maximumTableRows else {
        throw InputError(file: options.source, location: "header", message: "expert count is \(e), expected at most \(maximumTableRows)")
    }
    var header = try streamHeader(source)
    let layout = try StreamLayout(source, kind: header.kind, file: options.source, limits: ResamplingLimits())
    if let meta = source.exportMetadata {
        try meta.check(layerCount: layerCount, expertCount: e, tokenCount: n,
                       domainCount: source.hasDomains ? layout.domainCount : nil, file: source.metadataPath)
    }
    let blocks = header.layers.map(\.layer)
    let shape = TraceShape(classCount: layout.classCount, hasLabels: layout.labelsUsable, positionCount: layout.positionCount)
    let images = layout.imageStarts != nil
    let pairs = transitionPairs(layers: layerCount, allLayerPairs: options.allLayerPairs)
    let shared = sharedExperts(header.metadata)
    let withVocabulary = layout.labelsUsable && !images

    var tallies = (0..<layerCount).map { _ in LayerTally(expertCount: e, classCount: shape.classCount, positionCount: shape.positionCount) }
    var computeSums = ComputeSumTally(classCount: shape.classCount)
    var coActivations = (0..<layerCount).map { _ in CoActivationCounts(experts: e) }
    var transitions = pairs.map { _ in Top1PairCounts(experts: e) }
    var neighbours = (0..<layerCount).map { _ in NeighbourTally(experts: e) }
    var neighbourDescription = "consecutive tokens", anyNeighbourPair = false
    var vocabulary = withVocabulary ? (0..<layerCount).map { _ in VocabularyCounts(classCount: shape.classCount, experts: e) } : []
    var domainTables = [[Double]](repeating: [Double](repeating: 0, count: layout.domainCount * e), count: source.hasDomains ? layerCount : 0)
    var domainTokens = [Int](repeating: 0, count: layout.domainCount)
    var assignments = [Int](repeating: 0, count: layerCount)
    var sharedTallies = shared.map { s in (0..<layerCount).map { _ in SharedShareTally(sharedExperts: s.count, gate: s.gate) } } ?? []
    var entropyNotes = [String?](repeating: nil, count: layerCount)

    let chunks = layout.chunks(tokenCount: n, tokens: max(1, tokensPerChunk))
    for range in chunks {
        let (layers, notes) = try source.layers(range, keepProbabilities: true)
        for l in 0..<layerCount where entropyNotes[l] == nil { entropyNotes[l] = notes[l] }
        var labels = layout.labelsUsable ? try source.labels(range) : nil
        if let index = layout.labelIndex { labels = labels?.map(index) }
        let positions = shape.positionCount > 0 || images ? try source.positions(range) : nil
        for l in 0..<layerCount {
            try tallies[l].add(layers[l], labels: labels, positions: positions, firstToken: range.lowerBound, source: options.source)
            coActivations[l].add(layers[l])
            assignments[l] += layers[l].experts.count
        }
        computeSums.add(layers, labels: labels)
        let top1 = layers.map { firstExperts($0, expertCount: e) }
        for (i, (l, m)) in pairs.enumerated() { transitions[i].add(top1[l], top1[m]) }

        // Neighbours: whole images or routing groups in each chunk, else one sequence across chunks.
        let starts = layout.unitStarts(in: range)
        let neighbourPairs = images
            ? NeighbourPairs(positions: positions, unitStarts: starts, patches: layout.largestPosition)
            : NeighbourPairs(positions: nil, unitStarts: starts)
        neighbourDescription = layout.groupStarts != nil && !images ? "consecutive tokens of each routing group" : neighbourPairs.description
        anyNeighbourPair = anyNeighbourPair || !neighbourPairs.first.isEmpty || (layout.unitStarts == nil && range.lowerBound > 0)
        for l in 0..<layerCount {
            if layout.unitStarts == nil {
                neighbours[l].add(continuing: neighbourPairs, top1: top1[l], lastPairsOnward: true)
            } else {
                neighbours[l].add(neighbourPairs, top1: top1[l])
            }
        }
        if withVocabulary, let labels {
            for l in 0..<layerCount { vocabulary[l].add(top1[l], labels, 0..<range.count) }
        }
        if let domains = try source.domains(range) {
            for d in domains { domainTokens[Int(d)] += 1 }
            for l in 0..<layerCount { addDomainAssignments(&domainTables[l], layers[l], domains: domains, experts: e) }
        }
        for l in sharedTallies.indices { sharedTallies[l].add(layers[l]) }
    }

    // The header's metadata as the in-memory reader writes it.
    var notes = entropyNotes.compactMap { $0 }
    if !source.hasWeights { notes.append("no weights.npy: each of a token's m experts has weight 1/m") }
    if !notes.isEmpty { header.metadata["importNotes"] = notes.joined(separator: "; ") }

    let reductions = tallies.enumerated().map { LayerReduction(layerNumber: blocks[$0], tally: $1) }
    let classNames = layout.classIDs.map { $0.map { String($0) } } ?? []
    let points = PointEstimates(options: options, shape: shape, tokens: n, expertCount: e, classNames: classNames,
                                reductions: reductions, computeSums: computeSums)
    let noTest = ClassPermutationResult(p: [Double?](repeating: nil, count: layerCount + 1), units: nil, observed: nil)
    let noIntervals = [UncertaintyStatistics?](repeating: nil, count: layerCount + 1)
    let layerAnalyses = points.layerAnalyses(intervals: noIntervals, classTest: noTest)
    let overall = points.overallAnalysis(layers: layerAnalyses, intervals: noIntervals, classTest: noTest)
    let coActivation = coActivations.enumerated().compactMap { $1.result(layer: blocks[$0]) }
    var resampling = ResamplingSummary(
        unit: images ? "images" : "tokens", units: images ? layout.imageStarts!.count - 1 : n, bootstrapResamples: 0,
        confidenceLevel: options.confidenceLevel, permutations: 0, seed: options.seed, method: "one_pass", blockSize: 1,
        stratifiedByClass: false, routingGroups: layout.groupStarts.map { $0.count - 1 })
    resampling.chunks = chunks.count
    var analysis = TraceAnalysis(
        expertCount: e, tokenCount: n, layerCount: layerCount, classCount: layout.labelsUsable ? shape.classCount : 0,
        classNames: classNames, metadata: header.metadata, resampling: resampling, layers: layerAnalyses, overall: overall,
        layerTransitions: pairs.enumerated().map { i, pair in
            layerTransition(from: blocks[pair.0], to: blocks[pair.1], transitions[i].table(), withTable: options.allLayerPairs)
        },
        neighbourAgreement: anyNeighbourPair ? neighbours.enumerated().map { $1.result(layer: blocks[$0], neighbours: neighbourDescription) } : nil,
        coActivation: coActivation.isEmpty ? nil : coActivation,
        vocabularySpecialisation: withVocabulary ? vocabulary.indices.map { l in
            VocabularySpecialisation(layer: blocks[l], units: layout.groupStarts == nil ? "blocks of 1,024 consecutive tokens"
                                        : header.kind == .sequences ? "sequences" : "routing groups",
                                     observed: vocabulary[l].take())
        } : nil)
    if layout.labelsUsable { analysis.classIds = layout.classIDs.map { $0.map(Int.init) } }
    if source.hasDomains && layout.domainCount > 0 {
        let grouped = layout.domainsFollowGroups && layout.groupStarts != nil
        let names = header.domainNames.isEmpty ? nil : Array(header.domainNames.prefix(layout.domainCount))
        analysis.domainSpecialisation = (0..<layerCount).map { l in
            domainSpecialisation(layer: blocks[l], table: domainTables[l], tokens: domainTokens, names: names,
                                 assignments: assignments[l],
                                 units: grouped ? (header.kind == .sequences ? "sequences" : "routing groups") : "tokens",
                                 unitCount: grouped ? layout.groupStarts!.count - 1 : n)
        }
    }
    if !sharedTallies.isEmpty { analysis.sharedExperts = sharedTallies.enumerated().map { $1.result(layer: blocks[$0]) } }
    var result = StreamedAnalysis(analysis: analysis, unknownLabels: layout.unknownLabels)
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

/// A uniform sample of whole units of a trace read in one pass (`analyze --stream --sample N`):
/// routing groups (sequences), else images, else blocks of ``blockTokens`` consecutive tokens,
/// drawn without replacement (a seeded shuffle of the unit indices, the first N kept in trace
/// order), read and analysed in memory with intervals and permutation tests. As for a sampled CSV
/// (docs/statistics.md), the sample's intervals describe what N units say about the population
/// the trace was drawn from; the one-pass numbers are the whole trace's.
public struct StreamSample: Codable, Sendable, Equatable {
    /// Tokens per unit when the trace has neither routing groups nor images.
    public static let blockTokens = 2048
    /// "sequence", "routing group", "image" or "block of 2,048 tokens".
    public var unit: String
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
            : "block of 2,048 tokens"
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

/// A trace of no tokens that carries what the source's metadata says: block numbers, kind,
/// shared experts, domain names, provenance and import warnings.
private func streamHeader(_ source: NPYTraceSource) throws -> RoutingTrace {
    var metadata = ["source": source.directory, "sourceFormat": "npy"]
    if let warning = source.inferenceWarning { metadata["importWarnings"] = warning }
    var header = RoutingTrace(expertCount: source.expertCount, tokenCount: source.tokenCount,
                              layers: (0..<source.layerCount).map { LayerRouting(layer: $0, offsets: [0], experts: [], weights: []) },
                              metadata: metadata)
    source.exportMetadata?.annotate(&header)
    return header
}
