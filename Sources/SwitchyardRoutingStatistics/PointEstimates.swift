import Foundation
import SwitchyardTraces

/// The point estimates of every scope from a trace's counts alone (``LayerTally``,
/// ``ComputeSumTally``): loads, affinity, heterogeneity, per layer and over all layers. The
/// in-memory analysis and the one-pass analysis (``analyzeStream(_:options:tokensPerChunk:)``)
/// both end here; intervals and permutation p-values come from outside.
struct PointEstimates {
    let options: AnalysisOptions
    let shape: TraceShape
    /// Tokens, and class names.
    let n: Int
    let classNames: [String]
    let e: Int
    /// Each layer's counted part (per-token data is not read here).
    let reductions: [LayerReduction]
    let computeSums: ComputeSumTally
    let expertScopes: ScopeTables
    let withAffinity: Bool
    /// Class × (layer, expert) counts, and each layer's assignments.
    let classSlot: [Double]
    let assignments: [Double]
    var layerCount: Int { reductions.count }

    init(options: AnalysisOptions, shape: TraceShape, tokens: Int, expertCount: Int, classNames: [String],
         reductions: [LayerReduction], computeSums: ComputeSumTally) {
        self.options = options
        self.shape = shape
        n = tokens
        e = expertCount
        self.classNames = classNames
        self.reductions = reductions
        self.computeSums = computeSums
        withAffinity = shape.hasLabels
        expertScopes = ScopeTables(identityFor: reductions.count, expertCount: expertCount, classCount: shape.classCount)
        (classSlot, assignments) = expertScopes.classSlotTable(reductions.map(\.classExpert))
    }

    /// Every layer's statistics.
    func layerAnalyses(intervals: [UncertaintyStatistics?], classTest: ClassPermutationResult) -> [LayerAnalysis] {
        var layers: [LayerAnalysis] = []
        for (l, r) in reductions.enumerated() {
            let counts = expertScopes.expertCounts(classSlot, layer: l)
            let load = makeLoad(counts: counts, tokens: n, withoutExpert: r.tokensWithoutExpert,
                                dropped: r.dropped, droppedDefinition: r.droppedDefinition,
                                capacities: r.capacity.map { [(counts, $0)] } ?? [],
                                chi2: uniformChiSquare([counts]))
            let affinity = makeAffinity(
                classExpert: withAffinity ? expertScopes.classExpert(classSlot, layer: l) : nil,
                experts: e, classNames: classNames, classCount: shape.classCount,
                permutation: classTest, scope: l, permutations: withAffinity ? options.permutations : 0,
                confidence: r.routerConfidence, entropy: r.meanRouterEntropy, entropyScale: log(Double(e)),
                probabilityByClass: r.probabilityByClass.map { [$0] }, classTokens: r.classTokens, tokens: n,
                positionExpert: r.positionExpert, positionCount: shape.positionCount,
                includeTables: options.includeTables)
            // Tokens by class and experts-per-token.
            let levels = r.expertsPerToken
            let heterogeneity = makeHeterogeneity(levels: levels, pairLevels: levels.map { $0.reduce(0, +) },
                                                  pairs: Double(n), withClasses: withAffinity,
                                                  meanExpertsPerToken: assignments[l] / Double(n))
            layers.append(LayerAnalysis(layer: r.layerNumber, scope: "layer \(r.layerNumber)", load: load,
                                        affinity: affinity, heterogeneity: heterogeneity, uncertainty: intervals[l]))
        }
        return layers
    }

    /// The statistics of all layers together: loads over the L·E (layer, expert) slots, the
    /// class × slot table, and compute per token summed over layers.
    func overallAnalysis(layers: [LayerAnalysis], intervals: [UncertaintyStatistics?],
                         classTest: ClassPermutationResult) -> LayerAnalysis {
        let slotCounts = expertScopes.expertCounts(classSlot, layer: nil)
        let definitions = Set(reductions.map(\.droppedDefinition))
        let overallLoad = makeLoad(
            counts: slotCounts, tokens: n * layerCount,
            withoutExpert: reductions.reduce(0) { $0 + $1.tokensWithoutExpert },
            dropped: reductions.reduce(0) { $0 + $1.dropped },
            droppedDefinition: definitions.count == 1 ? definitions.first! : "mixed",
            capacities: reductions.enumerated().compactMap { l, r in
                r.capacity.map { (Array(slotCounts[(l * e)..<((l + 1) * e)]), $0) }
            },
            chi2: uniformChiSquare((0..<layerCount).map { Array(slotCounts[($0 * e)..<(($0 + 1) * e)]) }))
        let confidences = reductions.compactMap(\.routerConfidence)
        let entropies = reductions.compactMap(\.meanRouterEntropy)
        let allProbabilities = reductions.allSatisfy { $0.probabilityByClass != nil }
            ? reductions.map { $0.probabilityByClass! } : nil
        var overallPositions: [Double]? = nil
        if shape.positionCount > 0 {
            var table = [Double](repeating: 0, count: shape.positionCount * layerCount * e)
            for (l, r) in reductions.enumerated() {
                for p in 0..<shape.positionCount {
                    for x in 0..<e { table[p * layerCount * e + l * e + x] = r.positionExpert![p * e + x] }
                }
            }
            overallPositions = table
        }
        let overallAffinity = makeAffinity(
            classExpert: withAffinity ? classSlot : nil, experts: layerCount * e, classNames: classNames,
            classCount: shape.classCount, permutation: classTest, scope: layerCount,
            permutations: withAffinity ? options.permutations : 0,
            confidence: confidences.isEmpty ? nil : confidences.reduce(0, +) / Double(confidences.count),
            entropy: entropies.isEmpty ? nil : entropies.reduce(0, +) / Double(entropies.count),
            entropyScale: log(Double(e)), probabilityByClass: allProbabilities, classTokens: reductions[0].classTokens,
            tokens: n, positionExpert: overallPositions, positionCount: shape.positionCount,
            includeTables: options.includeTables)
        let maxK = reductions.map(\.mostExpertsPerToken).max() ?? 0
        var pairLevels = [Double](repeating: 0, count: maxK + 1)
        for l in layers {
            for (k, c) in l.heterogeneity.expertsPerTokenCounts.enumerated() { pairLevels[k] += Double(c) }
        }
        let overallHeterogeneity = makeHeterogeneity(
            levels: computeSums.levels, pairLevels: pairLevels, pairs: Double(n * layerCount), withClasses: withAffinity,
            meanExpertsPerToken: assignments.reduce(0, +) / Double(n * layerCount))
        let overall = LayerAnalysis(layer: nil, scope: "all layers", load: overallLoad, affinity: overallAffinity,
                                    heterogeneity: overallHeterogeneity, uncertainty: intervals[layerCount])
        return overall
    }
}

/// Tokens by their number of experts summed over layers, and class: the table of the overall
/// heterogeneity, added a range of tokens (all layers of it) at a time.
struct ComputeSumTally {
    let classCount: Int
    /// Row-major `(largest sum + 1) × classCount`.
    var table: [Double] = []

    init(classCount: Int) { self.classCount = classCount }

    mutating func add(_ layers: [LayerRouting], labels: [Int32]?) {
        guard let n = layers.first.map({ $0.offsets.count - 1 }) else { return }
        var computeSum = [Int32](repeating: 0, count: n)
        for layer in layers {
            computeSum.withUnsafeMutableBufferPointer { cs in
            layer.offsets.withUnsafeBufferPointer { off in
                for t in 0..<n { cs[t] += off[t + 1] - off[t] }
            }}
        }
        let classCount = classCount
        let rows = Int(computeSum.max() ?? 0) + 1
        if table.count < rows * classCount { table.append(contentsOf: repeatElement(0, count: rows * classCount - table.count)) }
        computeSum.withUnsafeBufferPointer { cs in
        table.withUnsafeMutableBufferPointer { st in
            if let labels {
                labels.withUnsafeBufferPointer { lab in
                    for t in 0..<n { st[Int(cs[t]) * classCount + Int(lab[t])] += 1 }
                }
            } else {
                for t in 0..<n { st[Int(cs[t]) * classCount] += 1 }
            }
        }}
    }

    /// Tokens by summed experts and class: `levels[v][c]`.
    var levels: [[Double]] {
        (0..<(table.count / max(classCount, 1))).map { Array(table[($0 * classCount)..<(($0 + 1) * classCount)]) }
    }
}
