import SwitchyardTraces

/// Every count of the one pass, per layer and across layers, added chunk by chunk.
struct StreamTallies {
    let source: NPYTraceSource
    let layout: StreamLayout
    let header: RoutingTrace
    let options: AnalysisOptions
    let shape: TraceShape
    let pairs: [(Int, Int)]
    var layerCount: Int { source.layerCount }
    var images: Bool { layout.imageStarts != nil }
    var withVocabulary: Bool { layout.labelsUsable && !images }
    var tallies: [LayerTally]
    var computeSums: ComputeSumTally
    var coActivations: [CoActivationCounts]
    var transitions: [Top1PairCounts]
    var neighbours: [NeighbourTally]
    var neighbourDescription = "consecutive tokens", anyNeighbourPair = false
    var vocabulary: [VocabularyCounts]
    var domainTables: [[Double]]
    var domainTokens: [Int]
    var shared: [SharedShareTally]
    var entropyNotes: [String?]

    init(_ source: NPYTraceSource, layout: StreamLayout, header: RoutingTrace, options: AnalysisOptions) {
        (self.source, self.layout, self.header, self.options) = (source, layout, header, options)
        let e = source.expertCount, layers = source.layerCount
        shape = TraceShape(classCount: layout.classCount, hasLabels: layout.labelsUsable, positionCount: layout.positionCount)
        pairs = transitionPairs(layers: layers, allLayerPairs: options.allLayerPairs)
        tallies = (0..<layers).map { [shape] _ in LayerTally(expertCount: e, classCount: shape.classCount, positionCount: shape.positionCount) }
        computeSums = ComputeSumTally(classCount: shape.classCount)
        coActivations = (0..<layers).map { _ in CoActivationCounts(experts: e) }
        transitions = pairs.map { _ in Top1PairCounts(experts: e) }
        neighbours = (0..<layers).map { _ in NeighbourTally(experts: e) }
        vocabulary = layout.labelsUsable && layout.imageStarts == nil
            ? (0..<layers).map { [shape] _ in VocabularyCounts(classCount: shape.classCount, experts: e) } : []
        domainTables = [[Double]](repeating: [Double](repeating: 0, count: layout.domainCount * e), count: source.hasDomains ? layers : 0)
        domainTokens = [Int](repeating: 0, count: layout.domainCount)
        shared = sharedExperts(header.metadata).map { s in (0..<layers).map { _ in SharedShareTally(sharedExperts: s.count, gate: s.gate) } } ?? []
        entropyNotes = [String?](repeating: nil, count: layers)
    }

    /// Adds the tokens `range`, a chunk cut at unit boundaries.
    mutating func add(_ range: Range<Int>) throws {
        let e = source.expertCount
        let (layers, notes) = try source.layers(range, keepProbabilities: true)
        for l in 0..<layerCount where entropyNotes[l] == nil { entropyNotes[l] = notes[l] }
        var labels = layout.labelsUsable ? try source.labels(range) : nil
        if let index = layout.labelIndex { labels = labels?.map(index) }
        let positions = shape.positionCount > 0 || images ? try source.positions(range) : nil
        for l in 0..<layerCount {
            try tallies[l].add(layers[l], labels: labels, positions: positions, firstToken: range.lowerBound, source: options.source)
            coActivations[l].add(layers[l])
        }
        computeSums.add(layers, labels: labels)
        let top1 = layers.map { firstExperts($0, expertCount: e) }
        for (i, (l, m)) in pairs.enumerated() { transitions[i].add(top1[l], top1[m]) }

        // Neighbours: whole images in each chunk; routing groups (or the one sequence of a trace
        // without units) may go on across chunks.
        let units = layout.units(in: range)
        let neighbourPairs = images
            ? NeighbourPairs(positions: positions, unitStarts: units.starts, patches: layout.largestPosition)
            : NeighbourPairs(positions: nil, unitStarts: units.starts)
        neighbourDescription = layout.groupStarts != nil && !images ? "consecutive tokens of each routing group" : neighbourPairs.description
        anyNeighbourPair = anyNeighbourPair || !neighbourPairs.first.isEmpty || units.continuesPrevious
        for l in 0..<layerCount {
            neighbours[l].add(neighbourPairs, top1: top1[l], continuesPrevious: units.continuesPrevious,
                              continuesNext: units.continuesNext)
        }
        if withVocabulary, let labels {
            for l in 0..<layerCount { vocabulary[l].add(top1[l], labels, 0..<range.count) }
        }
        if let domains = try source.domains(range) {
            for d in domains { domainTokens[Int(d)] += 1 }
            for l in 0..<layerCount { addDomainAssignments(&domainTables[l], layers[l], domains: domains, experts: e) }
        }
        for l in shared.indices { shared[l].add(layers[l]) }
    }

    /// The analysis from the counts of `chunks` chunks.
    mutating func analysis(chunks: Int) -> TraceAnalysis {
        let n = source.tokenCount, e = source.expertCount
        let blocks = header.layers.map(\.layer)
        var metadata = header.metadata
        metadata.merge(source.metadata(notes: entropyNotes.compactMap { $0 })) { $1 }
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
        resampling.chunks = chunks
        let groupUnits = header.kind == .sequences ? "sequences" : "routing groups"
        var analysis = TraceAnalysis(
            expertCount: e, tokenCount: n, layerCount: layerCount, classCount: layout.labelsUsable ? shape.classCount : 0,
            classNames: classNames, metadata: metadata, resampling: resampling, layers: layerAnalyses, overall: overall,
            layerTransitions: pairs.enumerated().map { i, pair in
                layerTransition(from: blocks[pair.0], to: blocks[pair.1], transitions[i].table(), withTable: options.allLayerPairs)
            },
            neighbourAgreement: anyNeighbourPair
                ? neighbours.enumerated().map { $1.result(layer: blocks[$0], neighbours: neighbourDescription) } : nil,
            coActivation: coActivation.isEmpty ? nil : coActivation,
            vocabularySpecialisation: withVocabulary ? vocabulary.indices.map { l in
                VocabularySpecialisation(layer: blocks[l], units: layout.groupStarts == nil ? "blocks of 1,024 consecutive tokens" : groupUnits,
                                         observed: vocabulary[l].take())
            } : nil)
        if layout.labelsUsable { analysis.classIds = layout.classIDs.map { $0.map(Int.init) } }
        if source.hasDomains && layout.domainCount > 0 {
            let grouped = layout.domainsFollowGroups && layout.groupStarts != nil
            let names = header.domainNames.isEmpty ? nil : Array(header.domainNames.prefix(layout.domainCount))
            analysis.domainSpecialisation = (0..<layerCount).map { l in
                domainSpecialisation(layer: blocks[l], table: domainTables[l], tokens: domainTokens, names: names,
                                     assignments: Int(points.assignments[l]), units: grouped ? groupUnits : "tokens",
                                     unitCount: grouped ? layout.groupStarts!.count - 1 : n)
            }
        }
        if !shared.isEmpty { analysis.sharedExperts = shared.enumerated().map { $1.result(layer: blocks[$0]) } }
        return analysis
    }
}
