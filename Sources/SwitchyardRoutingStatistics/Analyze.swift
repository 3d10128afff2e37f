import CGSL
import SwitchyardFileIO
import Foundation
import SwitchyardTraces

/// Analyses a routing trace: load balance, token–expert affinity, heterogeneity of
/// compute, consecutive-layer dependence, bootstrap intervals and a permutation test,
/// per layer and over all layers. Definitions and sources: `docs/statistics.md`.
///
/// ```swift
/// let analysis = try analyze(trace: trace, options: AnalysisOptions(seed: 7))
/// print(analysis.summary())
/// let json = try analysis.jsonData()
/// ```
///
/// - Throws: ``InputError`` naming the place and value when the trace is inconsistent
///   (offsets, expert ids, labels, lengths, non-finite numbers) or an option is invalid.
public func analyze(trace: RoutingTrace, options: AnalysisOptions = AnalysisOptions()) throws -> TraceAnalysis {
    try analyze(trace: trace, options: options, allowGrouping: true)
}

/// ``analyze(trace:options:)`` with control over grouping identical tokens for the
/// resampling (tests compare both ways).
/// Whether the trace's router fills every expert to capacity by design (its loads are then
/// fixed by capacity, see ``BootstrapInterval/fixedBy``): the trait `router.fillsEveryExpert`
/// that traces record. Traces written before traits were recorded name only the router; of
/// those, Switchyard's `expert-choice` is the one that fills every expert.
func routerFillsEveryExpert(_ metadata: [String: String]) -> Bool {
    if let declared = metadata["router.fillsEveryExpert"] { return declared == "true" }
    return metadata["router.chooser"] == nil && metadata["router"] == "expert-choice"
}

func analyze(trace: RoutingTrace, options: AnalysisOptions, allowGrouping: Bool,
             limits: ResamplingLimits = ResamplingLimits()) throws -> TraceAnalysis {
    _ = GSLErrorHandling.installed
    try checkOptions(options)
    let shape = try checkTrace(trace, source: options.source)
    let reductions = try trace.layers.map {
        try reduceLayer($0, of: trace, shape: shape, source: options.source)
    }
    let plan = try makeResamplingPlan(trace: trace, reductions: reductions, shape: shape,
                                      unit: options.resamplingUnit, source: options.source,
                                      allowGrouping: allowGrouping, limits: limits)
    let scopes = ScopeTables(reductions: reductions, expertCount: trace.expertCount, classCount: shape.classCount)
    let classNames = trace.classNames
    let withAffinity = shape.hasLabels

    // Point tables from the reductions.
    let (classSlot, assignments) = scopes.classSlotTable(reductions.map(\.classPattern))
    let layerCount = reductions.count, e = trace.expertCount, n = trace.tokenCount

    // Permutation test of the mutual information (same permutation for every scope).
    var permutationP = [Double?](repeating: nil, count: layerCount + 1)
    if withAffinity && options.permutations > 0 {
        // Blocks keep runs of same-class units together, which with skewed labels and
        // neighbours routed alike is not a permutation of the labels (p = 1 under the null in
        // the coverage harness): those traces permute unit labels exactly instead.
        if plan.method == "blocks", let starts = plan.unitStarts {
            // One row per unit when that is much less work than visiting every token (images
            // hold few distinct experts) and fits 2^24 entries; else token by token.
            let units = UnitOrder(starts: starts, labels: trace.labels, classCount: shape.classCount)
            let members = reductions.map(PatternMembers.init)
            let entries = units.estimatedEntries(blockSize: 1, members: members, experts: e)
            if entries <= Double(1 << 24) && entries * 2 <= Double(n * layerCount) {
                let perUnit = unitPlan(trace: trace, members: members, units: units, classCount: shape.classCount,
                                       unitName: plan.unitName, blockSize: 1)
                permutationP = permutationTest(plan: perUnit, scopes: scopes, permutations: options.permutations,
                                               seed: options.seed)
            } else {
                let exact = UnitPermutation(reductions: reductions, unitStarts: starts, labels: trace.labels,
                                            classCount: shape.classCount)
                permutationP = exact.pValues(expertCount: e, permutations: options.permutations, seed: options.seed)
            }
        } else {
            permutationP = permutationTest(plan: plan, scopes: scopes, permutations: options.permutations,
                                           seed: options.seed)
        }
    }
    // Bootstrap.
    var intervals = [UncertaintyStatistics?](repeating: nil, count: layerCount + 1)
    let groupLoads = options.bootstrapResamples > 0
        ? RoutingGroupLoads(trace: trace, maximumCells: limits.maxEntries) : nil
    if options.bootstrapResamples > 0 {
        let estimates = scopes.headlines(reductions.map(\.classPattern), tokens: Double(n), withAffinity: withAffinity)
        intervals = bootstrap(plan: plan, scopes: scopes, resamples: options.bootstrapResamples,
                              confidence: options.confidenceLevel, seed: options.seed,
                              withAffinity: withAffinity, estimates: estimates)
        // The load numbers by routing group (batch), when the trace records groups: capacities
        // and Expert Choice's k bound the loads of each group, which resampling tokens or
        // images across groups would ignore (see RoutingGroupLoads).
        if let groupLoads {
            let replicates = groupLoads.replicates(resamples: options.bootstrapResamples, seed: options.seed)
            for s in 0...layerCount {
                guard var u = intervals[s] else { continue }
                let loads = headlineIntervals(replicates[s], estimates[s], confidence: options.confidenceLevel,
                                              withAffinity: false)
                u.cv = loads.cv
                u.gini = loads.gini
                u.maxVio = loads.maxVio
                u.meanExpertsPerToken = loads.meanExpertsPerToken
                intervals[s] = u
            }
        }
        // Loads fixed by the router's design do not vary with the sample; their statistics get
        // the estimate as their interval. Only Expert Choice (named so in the trace's metadata,
        // as the trainer records it) fills every expert by design, and only when no per-token
        // cap held an expert below its capacity: every expert's load equals its capacity.
        // Token-choice routers can fill every buffer too (capacity factor < 1), but a different
        // sample can leave one short, so their loads are not fixed.
        let fillsByDesign = routerFillsEveryExpert(trace.metadata)
        let full = reductions.enumerated().map { l, r -> Bool in
            guard fillsByDesign, let capacity = r.capacity else { return false }
            return scopes.expertCounts(classSlot, layer: l).allSatisfy { $0 == Double(capacity) }
        }
        for s in 0...layerCount where (s < layerCount ? full[s] : !full.isEmpty && full.allSatisfy { $0 }) {
            guard var u = intervals[s] else { continue }
            // No sampling error: the plug-in values are exact.
            let e = estimates[s]
            u.cv = .fixed(at: e.cv, by: "capacity")
            u.gini = .fixed(at: e.gini, by: "capacity")
            u.maxVio = .fixed(at: e.maxVio, by: "capacity")
            u.meanExpertsPerToken = .fixed(at: e.meanExpertsPerToken, by: "capacity")
            intervals[s] = u
        }
    }

    // Near the boundary: when the permutation test does not reject independence at
    // 1 − level, the affinity intervals start at 0 and say so (an interval that excludes 0
    // would claim an affinity the calibrated test does not find).
    for s in 0...layerCount {
        guard var u = intervals[s], let p = permutationP[s], p > 1 - options.confidenceLevel else { continue }
        u.mutualInformationBits = u.mutualInformationBits?.withoutDetectableEffect()
        u.cramersV = u.cramersV?.withoutDetectableEffect()
        intervals[s] = u
    }

    // Sparse tables (token-id labels): no interval for MI and V, whose corrections and their
    // bootstrap need expected counts of 5 or more (Cochran's rule, SparseTable).
    if withAffinity {
        for s in 0...layerCount {
            guard var u = intervals[s], u.mutualInformationBits != nil || u.cramersV != nil else { continue }
            let table = scopes.classExpert(classSlot, layer: s < layerCount ? s : nil)
            let share = SparseTable.shareBelowFive(table, rows: shape.classCount, columns: table.count / max(shape.classCount, 1))
            guard share > SparseTable.maximumShare else { continue }
            u.mutualInformationBits = u.mutualInformationBits?.withheld(sparseShare: share)
            u.cramersV = u.cramersV?.withheld(sparseShare: share)
            intervals[s] = u
        }
    }

    // Per-token compute summed over layers, for the overall heterogeneity.
    var computeSum = [Int32](repeating: 0, count: n)
    for r in reductions {
        let k = r.patternExperts.map { Int32($0.count) }
        computeSum.withUnsafeMutableBufferPointer { cs in
        r.patternOfToken.withUnsafeBufferPointer { pat in
            for t in 0..<n { cs[t] += k[Int(pat[t])] }
        }}
    }

    var layers: [LayerAnalysis] = []
    for (l, r) in reductions.enumerated() {
        let counts = scopes.expertCounts(classSlot, layer: l)
        let load = makeLoad(counts: counts, tokens: n, withoutExpert: r.tokensWithoutExpert,
                            dropped: r.dropped, droppedDefinition: r.droppedDefinition,
                            capacities: r.capacity.map { [(counts, $0)] } ?? [],
                            chi2: uniformChiSquare([counts]))
        let affinity = makeAffinity(
            classExpert: withAffinity ? scopes.classExpert(classSlot, layer: l) : nil,
            experts: e, classNames: classNames, classCount: shape.classCount,
            permutationP: permutationP[l], permutations: withAffinity ? options.permutations : 0,
            confidence: r.routerConfidence, entropy: r.meanRouterEntropy, entropyScale: log(Double(e)),
            probabilityByClass: r.probabilityByClass.map { [$0] }, classTokens: r.classTokens, tokens: n,
            positionExpert: r.positionExpert, positionCount: shape.positionCount,
            includeTables: options.includeTables)
        // Tokens by class and experts-per-token.
        let kOfPattern = r.patternExperts.map(\.count)
        let maxK = kOfPattern.max() ?? 0
        var levels = [[Double]](repeating: [Double](repeating: 0, count: shape.classCount), count: maxK + 1)
        for c in 0..<shape.classCount {
            for p in 0..<r.patternCount {
                levels[kOfPattern[p]][c] += r.classPattern[c * r.patternCount + p]
            }
        }
        let heterogeneity = makeHeterogeneity(levels: levels, pairLevels: levels.map { $0.reduce(0, +) },
                                              pairs: Double(n), withClasses: withAffinity,
                                              meanExpertsPerToken: assignments[l] / Double(n))
        layers.append(LayerAnalysis(layer: r.layerNumber, scope: "layer \(r.layerNumber)", load: load,
                                    affinity: affinity, heterogeneity: heterogeneity, uncertainty: intervals[l]))
    }

    // All layers.
    let slotCounts = scopes.expertCounts(classSlot, layer: nil)
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
        classCount: shape.classCount, permutationP: permutationP[layerCount],
        permutations: withAffinity ? options.permutations : 0,
        confidence: confidences.isEmpty ? nil : confidences.reduce(0, +) / Double(confidences.count),
        entropy: entropies.isEmpty ? nil : entropies.reduce(0, +) / Double(entropies.count),
        entropyScale: log(Double(e)), probabilityByClass: allProbabilities, classTokens: reductions[0].classTokens,
        tokens: n, positionExpert: overallPositions, positionCount: shape.positionCount,
        includeTables: options.includeTables)
    let maxSum = Int(computeSum.max() ?? 0), classCount = shape.classCount
    var sumTable = [Double](repeating: 0, count: (maxSum + 1) * classCount)
    computeSum.withUnsafeBufferPointer { cs in
    sumTable.withUnsafeMutableBufferPointer { st in
        if let labels = trace.labels {
            labels.withUnsafeBufferPointer { lab in
                for t in 0..<n { st[Int(cs[t]) * classCount + Int(lab[t])] += 1 }
            }
        } else {
            for t in 0..<n { st[Int(cs[t]) * classCount] += 1 }
        }
    }}
    let sumLevels = (0...maxSum).map { Array(sumTable[($0 * classCount)..<(($0 + 1) * classCount)]) }
    let maxK = reductions.map { $0.patternExperts.map(\.count).max() ?? 0 }.max() ?? 0
    var pairLevels = [Double](repeating: 0, count: maxK + 1)
    for l in layers {
        for (k, c) in l.heterogeneity.expertsPerTokenCounts.enumerated() { pairLevels[k] += Double(c) }
    }
    let overallHeterogeneity = makeHeterogeneity(
        levels: sumLevels, pairLevels: pairLevels, pairs: Double(n * layerCount), withClasses: withAffinity,
        meanExpertsPerToken: assignments.reduce(0, +) / Double(n * layerCount))
    let overall = LayerAnalysis(layer: nil, scope: "all layers", load: overallLoad, affinity: overallAffinity,
                                heterogeneity: overallHeterogeneity, uncertainty: intervals[layerCount])

    // Consecutive layers, or every pair of layers (`allLayerPairs`); a pair's permutation stream
    // is the seed plus the earlier layer for consecutive pairs, as it always was.
    var transitions: [LayerTransition] = []
    if layerCount > 1 {
        let units = plan.unitStarts ?? (0...n).map { Int32($0) }
        let pairs = options.allLayerPairs ? (0..<layerCount).flatMap { l in ((l + 1)..<layerCount).map { (l, $0) } }
            : (0..<(layerCount - 1)).map { ($0, $0 + 1) }
        for (l, m) in pairs {
            let (table, used, tokens) = top1Table(reductions[l].top1, reductions[m].top1, experts: e)
            let s = Statistics.contingency(flat: table, rows: used.count, columns: used.count)
            var transition = LayerTransition(
                fromLayer: reductions[l].layerNumber, toLayer: reductions[m].layerNumber, tokens: tokens,
                mutualInformationBits: s.mutualInformationBits,
                normalizedMutualInformation: s.normalizedMutualInformation, cramersV: s.cramersV,
                chi2: s.chi2, chi2DF: s.chi2DF, chi2P: s.chi2P)
            transition.mutualInformationCorrectedBits = s.mutualInformationCorrectedBits
            if options.allLayerPairs {
                transition.coOccurrenceExperts = used
                transition.coOccurrence = (0..<used.count).map { i in (0..<used.count).map { Int(table[i * used.count + $0]) } }
            }
            // At most 2^25 token visits per transition (a tenth of a second): beyond, the test
            // runs on a random subset of whole units (`permutation_units`).
            let count = options.permutations
            if count > 0 {
                let test = transitionPermutationP(
                    reductions[l].top1, reductions[m].top1, experts: e, unitStarts: units,
                    observed: s.mutualInformationBits, permutations: count,
                    seed: options.seed &+ UInt64(m == l + 1 ? l : layerCount * (l + 1) + m))
                transition.mutualInformationPermutationP = test.p
                transition.permutationUnits = test.units
                transition.permutationMutualInformationBits = test.observed
                transition.permutations = count
            }
            transitions.append(transition)
        }
    }

    // Neighbouring tokens and co-activated experts, per layer.
    // Images (positions restarting at the same value, one label per run, and the trace not marked
    // as sequences): the patch grid, class token left out. Otherwise sequences: consecutive
    // tokens of each routing group.
    var neighbours: NeighbourPairs
    if let positions = trace.positions, let images = imageGroups(trace) {
        neighbours = NeighbourPairs(positions: positions, unitStarts: images)
    } else {
        var starts: [Int32] = [0]
        for size in trace.routingGroups ?? [n] { starts.append(starts.last! + Int32(size)) }
        neighbours = NeighbourPairs(positions: nil, unitStarts: starts)
        if trace.routingGroups != nil { neighbours.description = "consecutive tokens of each routing group" }
    }
    let neighbourPermutations = options.permutations
    let agreements = reductions.enumerated().map { l, r in
        neighbourAgreement(layer: r.layerNumber, top1: r.top1, pairs: neighbours, experts: e,
                           permutations: neighbourPermutations, seed: options.seed &+ UInt64(100 + l))
    }
    let coActivations = trace.layers.compactMap { coActivation($0, experts: e) }

    // Token ids (labels that vary within units, not one per image): vocabulary specialisation.
    var vocabulary: [VocabularySpecialisation]? = nil
    if let labels = trace.labels, withAffinity, imageGroups(trace) == nil {
        var starts: [Int32] = [0]
        let unitName: String
        if let sizes = trace.routingGroups {
            for size in sizes { starts.append(starts.last! + Int32(size)) }
            unitName = trace.kind == .sequences ? "sequences" : "routing groups"
        } else {
            starts = Array(stride(from: Int32(0), to: Int32(n), by: 1024)) + [Int32(n)]
            unitName = "blocks of 1,024 consecutive tokens"
        }
        vocabulary = reductions.enumerated().map { l, r in
            vocabularySpecialisation(layer: r.layerNumber, top1: r.top1, labels: labels, classCount: shape.classCount,
                                     experts: e, unitStarts: starts, unitName: unitName,
                                     permutations: options.permutations, seed: options.seed &+ UInt64(200 + l))
        }
    }

    return TraceAnalysis(
        expertCount: e, tokenCount: n, layerCount: layerCount,
        classCount: withAffinity ? shape.classCount : 0, classNames: classNames, metadata: trace.metadata,
        resampling: ResamplingSummary(unit: plan.unitName, units: plan.unitCount,
                                      bootstrapResamples: options.bootstrapResamples,
                                      confidenceLevel: options.confidenceLevel,
                                      permutations: withAffinity ? options.permutations : 0,
                                      seed: options.seed, method: plan.method, blockSize: plan.blockSize,
                                      stratifiedByClass: withAffinity,
                                      loadRoutingGroups: groupLoads?.groupCount,
                                      loadGroupsPerUnit: groupLoads?.groupsPerUnit,
                                      routingGroups: trace.routingGroups?.count),
        layers: layers, overall: overall, layerTransitions: transitions,
        neighbourAgreement: neighbours.first.isEmpty ? nil : agreements, coActivation: coActivations.isEmpty ? nil : coActivations,
        vocabularySpecialisation: vocabulary)
}

private func checkOptions(_ options: AnalysisOptions) throws {
    func fail(_ name: String, _ message: String) -> InputError {
        InputError(location: "option \(name)", message: message)
    }
    let most = AnalysisOptions.maximumResamples
    guard options.bootstrapResamples >= 0 && options.bootstrapResamples <= most else {
        throw fail("bootstrap resamples", "is \(options.bootstrapResamples), expected 0...\(most)")
    }
    guard options.permutations >= 0 && options.permutations <= most else {
        throw fail("permutations", "is \(options.permutations), expected 0...\(most)")
    }
    guard options.confidenceLevel > 0 && options.confidenceLevel < 1 else {
        throw fail("confidence level", "is \(options.confidenceLevel), expected a value in (0, 1)")
    }
}

/// The table of two top-1 assignments over tokens that have one in both, its rows and
/// columns the experts used by either (`experts`, ascending; the same order on both axes,
/// so the diagonal is agreement). Sized by the experts used, not the largest index: one
/// token of expert 100,000 costs one row, not 10¹⁰ cells.
func top1Table(_ a: [Int32], _ b: [Int32], experts e: Int) -> (table: [Double], experts: [Int], tokens: Int) {
    let count = min(a.count, b.count)
    var index = [Int32](repeating: -1, count: e)
    a.withUnsafeBufferPointer { pa in
    b.withUnsafeBufferPointer { pb in
        for t in 0..<count where pa[t] >= 0 && pb[t] >= 0 {
            index[Int(pa[t])] = 0
            index[Int(pb[t])] = 0
        }
    }}
    var used: [Int] = []
    for x in 0..<e where index[x] == 0 {
        index[x] = Int32(used.count)
        used.append(x)
    }
    let k = used.count
    var table = [Double](repeating: 0, count: k * k)
    var tokens = 0
    a.withUnsafeBufferPointer { pa in
    b.withUnsafeBufferPointer { pb in
    table.withUnsafeMutableBufferPointer { tb in
        for t in 0..<count where pa[t] >= 0 && pb[t] >= 0 {
            tb[Int(index[Int(pa[t])]) * k + Int(index[Int(pb[t])])] += 1
            tokens += 1
        }
    }}}
    return (table, used, tokens)
}

/// χ² of each layer's counts against a uniform spread, summed over layers with any
/// assignment (df = Σ (E − 1)).
func uniformChiSquare(_ layers: [[Double]]) -> ChiSquareTest {
    var statistic = 0.0, df = 0
    for counts in layers {
        let total = counts.reduce(0, +)
        guard total > 0 else { continue }
        let expected = [Double](repeating: total / Double(counts.count), count: counts.count)
        let test = Statistics.chiSquareGoodnessOfFit(observed: counts, expected: expected)
        statistic += test.statistic ?? 0
        df += test.degreesOfFreedom
    }
    guard df > 0 else { return ChiSquareTest(statistic: nil, degreesOfFreedom: df, p: nil) }
    return ChiSquareTest(statistic: statistic, degreesOfFreedom: df,
                         p: finite(gsl_cdf_chisq_Q(statistic, Double(df))))
}

/// The size of the top and bottom groups for the load shares: 20 % of the experts,
/// rounded half up, at least one.
func shareGroupSize(experts: Int) -> Int { max(1, Int((0.2 * Double(experts) + 0.5).rounded(.down))) }

func makeLoad(counts: [Double], tokens: Int, withoutExpert: Int, dropped: Int,
                      droppedDefinition: String, capacities: [([Double], Int)],
                      chi2: ChiSquareTest) -> LoadStatistics {
    let e = counts.count
    let total = counts.reduce(0, +)
    let summary = LoadSummary(counts)
    let entropy = Statistics.entropy(counts)
    let lnE = log(Double(e))
    let m = shareGroupSize(experts: e)
    let sorted = counts.sorted()
    var capacity: Int? = nil, utilization: Double? = nil, maxUtilization: Double? = nil, atCapacity: Int? = nil
    if !capacities.isEmpty {
        let values = Set(capacities.map(\.1))
        capacity = values.count == 1 ? values.first : nil
        var used = 0.0, available = 0.0, peak = 0.0, full = 0
        for (layerCounts, cap) in capacities {
            used += layerCounts.reduce(0, +)
            available += Double(layerCounts.count * cap)
            for c in layerCounts {
                peak = max(peak, c / Double(cap))
                if c >= Double(cap) { full += 1 }
            }
        }
        utilization = used / available
        maxUtilization = peak
        atCapacity = full
    }
    return LoadStatistics(
        experts: e, tokens: tokens, assignments: Int(total), counts: counts.map { Int($0) },
        fractions: counts.map { total > 0 ? $0 / total : nil },
        mean: finite(summary.mean), cv: finite(summary.cv), cvSquared: finite(summary.cv * summary.cv),
        cvSquaredUnbiased: finite(summary.cvSquaredUnbiased),
        cvCorrected: finite(summary.cvSquaredUnbiased).map { max(0, $0).squareRoot() },
        entropyMillerMadowNats: Statistics.millerMadowEntropy(counts),
        maxVio: finite(summary.maxVio), maxOverMean: finite(summary.maxVio + 1), gini: finite(summary.gini),
        entropyNats: entropy, entropyRatio: entropy.flatMap { e > 1 ? $0 / lnE : nil },
        klFromUniformNats: entropy.map { max(0, lnE - $0) }, shareGroupSize: m,
        topShare: total > 0 ? sorted.suffix(m).reduce(0, +) / total : nil,
        bottomShare: total > 0 ? sorted.prefix(m).reduce(0, +) / total : nil,
        unusedExperts: counts.indices.filter { counts[$0] == 0 },
        tokensWithoutExpert: withoutExpert, tokensWithoutExpertFraction: Double(withoutExpert) / Double(tokens),
        droppedTokens: dropped, droppedFraction: Double(dropped) / Double(tokens),
        droppedDefinition: droppedDefinition, capacity: capacity, capacityUtilization: utilization,
        maxCapacityUtilization: maxUtilization, expertsAtCapacity: atCapacity,
        chi2: chi2.statistic, chi2DF: chi2.degreesOfFreedom, chi2P: chi2.p)
}

private func makeAffinity(classExpert: [Double]?, experts: Int, classNames: [String], classCount: Int,
                          permutationP: Double?, permutations: Int, confidence: Double?, entropy: Double?,
                          entropyScale: Double, probabilityByClass: [[Double]]?, classTokens: [Double],
                          tokens: Int, positionExpert: [Double]?, positionCount: Int,
                          includeTables: Bool) -> AffinityStatistics {
    var table: ContingencyStatistics? = nil
    var dominant: [DominantClass] = []
    var classRows: [[Int]]? = nil
    if let classExpert {
        table = Statistics.contingency(flat: classExpert, rows: classCount, columns: experts)
        for x in 0..<experts {
            var best = -1, bestCount = 0.0, sum = 0.0
            for c in 0..<classCount {
                let v = classExpert[c * experts + x]
                sum += v
                if v > bestCount { bestCount = v; best = c }
            }
            dominant.append(DominantClass(
                expert: x, dominantClass: best >= 0 ? best : nil,
                className: best >= 0 && best < classNames.count ? classNames[best] : nil,
                share: best >= 0 ? bestCount / sum : nil, assignments: Int(sum)))
        }
        if includeTables {
            classRows = (0..<classCount).map { c in (0..<experts).map { Int(classExpert[c * experts + $0]) } }
        }
    } else {
        dominant = []
    }
    // Router probabilities: per-layer blocks side by side (one block per layer).
    var perExpert: [Double]? = nil, byClass: [[Double?]]? = nil
    if let blocks = probabilityByClass {
        let e = blocks.isEmpty ? 0 : blocks[0].count / classCount
        var sums = [Double](repeating: 0, count: blocks.count * e)
        var rows = [[Double?]](repeating: [Double?](repeating: nil, count: blocks.count * e), count: classCount)
        for (b, block) in blocks.enumerated() {
            for c in 0..<classCount {
                for x in 0..<e {
                    let v = block[c * e + x]
                    sums[b * e + x] += v
                    rows[c][b * e + x] = classTokens[c] > 0 ? v / classTokens[c] : nil
                }
            }
        }
        perExpert = sums.map { $0 / Double(tokens) }
        if classExpert != nil && includeTables { byClass = rows }
    }
    var positionTable: ContingencyStatistics? = nil, positionRows: [[Int]]? = nil
    if let positionExpert, positionCount > 0 {
        positionTable = Statistics.contingency(flat: positionExpert, rows: positionCount, columns: experts)
        if includeTables {
            positionRows = (0..<positionCount).map { p in (0..<experts).map { Int(positionExpert[p * experts + $0]) } }
        }
    }
    return AffinityStatistics(
        classes: table?.rows ?? 0, classExpertCounts: classRows,
        mutualInformationBits: table?.mutualInformationBits,
        normalizedMutualInformation: table?.normalizedMutualInformation,
        classEntropyBits: table?.rowEntropyBits, expertEntropyBits: table?.columnEntropyBits,
        chi2: table?.chi2, chi2DF: table?.chi2DF, chi2P: table?.chi2P, cramersV: table?.cramersV,
        mutualInformationCorrectedBits: table?.mutualInformationCorrectedBits,
        cramersVCorrected: table?.cramersVCorrected, chi2Assumes: table == nil ? nil : "independent tokens",
        mutualInformationPermutationP: permutationP, permutations: permutations, dominantClasses: dominant,
        routerConfidence: confidence, meanRouterEntropyNats: entropy,
        meanRouterEntropyRatio: entropy.flatMap { entropyScale > 0 ? $0 / entropyScale : nil },
        meanProbabilityPerExpert: perExpert, classExpertMeanProbability: byClass,
        positionExpertCounts: positionRows, position: positionTable)
}

/// Heterogeneity from `levels[v][class]` (tokens with compute v by class) and
/// `pairLevels[k]` ((token, layer) pairs with k experts).
private func makeHeterogeneity(levels: [[Double]], pairLevels: [Double], pairs: Double, withClasses: Bool,
                               meanExpertsPerToken: Double) -> HeterogeneityStatistics {
    _ = GSLErrorHandling.installed
    // Coarse histogram 0, 1, 2, 3, 4+ with GSL.
    let top = max(Double(pairLevels.count), 5)
    var ranges: [Double] = [0, 1, 2, 3, 4, top]
    let histogram = gsl_histogram_alloc(5)!
    defer { gsl_histogram_free(histogram) }
    gsl_histogram_set_ranges(histogram, &ranges, 6)
    for (k, c) in pairLevels.enumerated() where c > 0 { gsl_histogram_accumulate(histogram, Double(k), c) }
    let coarse = (0..<5).map { Int(gsl_histogram_get(histogram, $0)) }
    var atLeast: [Double] = []
    var remaining = pairs
    for c in pairLevels {
        atLeast.append(remaining / pairs)
        remaining -= c
    }
    // Compute per token.
    let values = (0..<levels.count).map(Double.init)
    let totals = levels.map { $0.reduce(0, +) }
    let count = totals.reduce(0, +)
    var mean: Double? = nil, variance: Double? = nil
    values.withUnsafeBufferPointer { v in
    totals.withUnsafeBufferPointer { w in
        let m = gsl_stats_wmean(w.baseAddress, 1, v.baseAddress, 1, values.count)
        mean = finite(m)
        if count > 1 { variance = finite(gsl_stats_wtss_m(w.baseAddress, 1, v.baseAddress, 1, values.count, m) / (count - 1)) }
    }}
    let compute = ComputeStatistics(mean: mean, variance: variance,
                                    gini: Statistics.giniOfHistogram(values: values, counts: totals),
                                    histogram: totals.map { Int($0) })
    var byClass: [Double?]? = nil, classCounts: [Int]? = nil, kw: KruskalWallisTest? = nil
    if withClasses, let classes = levels.first?.count {
        var sums = [Double](repeating: 0, count: classes), members = [Double](repeating: 0, count: classes)
        for (v, row) in levels.enumerated() {
            for c in 0..<classes {
                sums[c] += Double(v) * row[c]
                members[c] += row[c]
            }
        }
        byClass = (0..<classes).map { members[$0] > 0 ? sums[$0] / members[$0] : nil }
        classCounts = members.map { Int($0) }
        kw = Statistics.kruskalWallis(levelCounts: levels, groupCount: classes)
    }
    return HeterogeneityStatistics(
        expertsPerTokenHistogram: coarse, expertsPerTokenCounts: pairLevels.map { Int($0) },
        fractionWithAtLeast: atLeast, meanExpertsPerToken: finite(meanExpertsPerToken), computePerToken: compute,
        meanComputeByClass: byClass, classTokenCounts: classCounts, kruskalWallis: kw)
}

// MARK: Resampling

/// Bootstrap replicates of the headline numbers of every scope, and their percentile
/// intervals.
private func bootstrap(plan: ResamplingPlan, scopes patternScopes: ScopeTables, resamples: Int, confidence: Double,
                       seed: UInt64, withAffinity: Bool, estimates: [Headline]) -> [UncertaintyStatistics?] {
    let scopes = plan.scopes(patternScopes)
    let rng = GSLRandom(seed: seed, stream: 1)
    let scopeCount = scopes.layerCount + 1
    var replicates = [[Headline]](repeating: [], count: scopeCount)
    var weights = [UInt32](repeating: 0, count: plan.rowCount)
    var tables = scopes.patternCounts.map { [Double](repeating: 0, count: plan.classCount * $0) }
    for _ in 0..<resamples {
        plan.bootstrapWeights(rng, into: &weights)
        let tokens = weights.withUnsafeBufferPointer { plan.tokens(weights: $0.baseAddress!) }
        weights.withUnsafeBufferPointer { w in
        plan.rowClass.withUnsafeBufferPointer { c in
            plan.accumulate(weights: w.baseAddress!, classes: c.baseAddress!, patternCounts: scopes.patternCounts,
                            into: &tables)
        }}
        let h = scopes.headlines(tables, tokens: tokens, withAffinity: withAffinity)
        for s in 0..<scopeCount { replicates[s].append(h[s]) }
    }
    return (0..<scopeCount).map {
        headlineIntervals(replicates[$0], estimates[$0], confidence: confidence, withAffinity: withAffinity)
    }
}

/// The interval of every headline number from its bootstrap replicates, by the method the
/// coverage harness chose (docs/statistics.md, "Intervals"):
/// - CV: the basic interval of the unbiased CV² (``Statistics/unbiasedCVSquared(_:)``),
///   endpoints mapped by `√max(0, ·)`; estimate `√max(0, CV²_u)`.
/// - Gini: the basic interval of the plug-in; estimate the bootstrap bias-corrected
///   `2θ̂ − mean(θ*)` (Efron & Tibshirani 1993, §10.6), clamped at 0.
/// - MaxVio: estimate bias-corrected as Gini; interval by moment selection over the load
///   shares (``maxVioInterval(_:_:estimate:confidence:)``).
/// - mutual information, Cramér's V: the basic interval of the Miller–Madow and Bergsma
///   corrected values, lower end clamped at 0.
/// - mean experts per token (a mean, unbiased): the percentile interval.
func headlineIntervals(_ r: [Headline], _ est: Headline, confidence: Double,
                       withAffinity: Bool) -> UncertaintyStatistics {
    let root = { (x: Double) in max(0, x).squareRoot() }
    let clamp = { (x: Double) in max(0, x) }
    func corrected(_ values: [Double], _ estimate: Double) -> Double {
        let finiteValues = values.filter(\.isFinite)
        guard !finiteValues.isEmpty, estimate.isFinite else { return .nan }
        return max(0, 2 * estimate - finiteValues.reduce(0, +) / Double(finiteValues.count))
    }
    return UncertaintyStatistics(
        cv: basicInterval(r.map(\.cvSquaredUnbiased), corrected: est.cvSquaredUnbiased, world: est.cv * est.cv,
                          estimate: root(est.cvSquaredUnbiased), plugIn: est.cv, confidence: confidence, map: root),
        gini: basicInterval(r.map(\.gini), corrected: est.gini, world: est.gini,
                            estimate: corrected(r.map(\.gini), est.gini), plugIn: est.gini, confidence: confidence,
                            map: clamp),
        maxVio: maxVioInterval(r, est, estimate: corrected(r.map(\.maxVio), est.maxVio), confidence: confidence),
        mutualInformationBits: withAffinity
            ? basicInterval(r.map(\.mutualInformationCorrected), corrected: est.mutualInformationCorrected,
                            world: est.mutualInformation, estimate: clamp(est.mutualInformationCorrected),
                            plugIn: est.mutualInformation, confidence: confidence, map: clamp) : nil,
        cramersV: withAffinity
            ? basicInterval(r.map(\.cramersVSquaredCorrected), corrected: est.cramersVSquaredCorrected,
                            world: est.cramersV * est.cramersV, estimate: root(est.cramersVSquaredCorrected),
                            plugIn: est.cramersV, confidence: confidence, map: root) : nil,
        meanExpertsPerToken: percentileInterval(r.map(\.meanExpertsPerToken), est.meanExpertsPerToken,
                                                confidence: confidence))
}

/// The basic bootstrap interval of a parameter θ estimated by T (Davison & Hinkley 1997,
/// eq. 5.6): the law of T − θ is approximated by that of T* − θ(F̂), the replicates `values`
/// of T minus the parameter's value in the bootstrap world, `world` = θ(F̂) (the plug-in on the
/// data), so `[T̂ − (q_{(1+c)/2} − θ(F̂)), T̂ − (q_{(1−c)/2} − θ(F̂))]` with T̂ = `corrected`.
/// For a plug-in T (`corrected` = `world`) this is `[2T̂ − q_hi, 2T̂ − q_lo]`. Bias left in T
/// (e.g. by clustering the analytic correction ignores) shifts T* above θ(F̂) and is taken off.
/// Endpoints pass through the monotone `map` (a clamp at the parameter's range, or √ for
/// CV² → CV); `estimate` is the headline value and `plugIn` the uncorrected one; the standard
/// error is the replicates' standard deviation after `map`. Nil without finite replicates.
private func basicInterval(_ values: [Double], corrected: Double, world: Double, estimate: Double, plugIn: Double,
                           confidence: Double, map: (Double) -> Double) -> BootstrapInterval? {
    guard corrected.isFinite, world.isFinite,
          let (lo, hi) = Statistics.percentileInterval(values, confidence: confidence) else {
        return nil
    }
    let mapped = values.filter(\.isFinite).map(map)
    let se: Double? = mapped.count > 1 ? gsl_stats_sd(mapped, 1, mapped.count) : nil
    var interval = BootstrapInterval(estimate: finite(estimate), lower: map(corrected - (hi - world)),
                                     upper: map(corrected - (lo - world)),
                                     standardError: se.flatMap(finite), resamples: mapped.count)
    interval.method = "basic"
    interval.plugIn = finite(plugIn)
    interval.checkContainsEstimate()
    return interval
}

/// MaxVio = K·max_j p_j − 1 over K load shares p_j is a maximum: at near-ties the bootstrap of
/// the maximum is inconsistent (Andrews 2000) — the plug-in max is biased upward by the noise of
/// the tied shares, and `max p*` resampled around `max p̂` does not reproduce that bias — so the
/// basic and percentile intervals under-cover. This interval recentres each share at its own
/// estimate and keeps only the shares that may be the maximum (moment selection, Andrews &
/// Soares 2010): S = the shares within κ bootstrap standard errors (of their difference) of the
/// largest. With T = max p̂ and ε*_j = p*_j − p̂_j over the replicates (Hall & Miller 2010 for
/// extrema): T − max p ≤ max_{j∈S} ε_j, whose upper quantile gives the lower end, and
/// T − max p ≥ ε_{j*} (the true maximum's own noise), whose lower quantile, the smallest over S,
/// gives the upper end. One clear maximum gives the basic interval of its share. Replicates keep
/// the resampling unit (image, routing group); endpoints map to MaxVio and are clamped at 0.
/// κ and the coverage it gives: docs/statistics.md.
func maxVioInterval(_ r: [Headline], _ est: Headline, estimate: Double, confidence: Double) -> BootstrapInterval? {
    let p = est.shares, k = p.count
    let reps = r.filter { $0.shares.count == k && $0.maxVio.isFinite }
    guard k >= 1, est.maxVio.isFinite, reps.count >= 2 else { return nil }
    func sd(_ values: [Double]) -> Double { gsl_stats_sd(values, 1, values.count) }
    let top = p.indices.max { p[$0] < p[$1] }!
    let kappa = maxVioSelectionThreshold
    let selected = (0..<k).filter { j in
        j == top || p[top] - p[j] <= kappa * sd(reps.map { $0.shares[top] - $0.shares[j] })
    }
    // Lower end: T − max p ≤ max_{j∈S} ε_j, so its upper quantile under the selected shares'
    // noise bounds it. Upper end: T − max p ≥ ε_{j*}, the true maximum's own noise, so one
    // share's lower quantile bounds it (the smallest over S: the true maximum is among them).
    let excess = reps.map { rep in selected.map { rep.shares[$0] - p[$0] }.max()! }
    guard let (_, hi) = Statistics.percentileInterval(excess, confidence: confidence) else { return nil }
    let lo = selected.compactMap { j in Statistics.percentileInterval(reps.map { $0.shares[j] - p[j] }, confidence: confidence)?.0 }.min() ?? 0
    let t = p[top]
    var interval = BootstrapInterval(estimate: finite(estimate), lower: max(0, Double(k) * (t - hi) - 1),
                                     upper: max(0, Double(k) * (t - lo) - 1),
                                     standardError: finite(sd(reps.map(\.maxVio))), resamples: reps.count)
    interval.method = "moment selection"
    interval.plugIn = finite(est.maxVio)
    interval.checkContainsEstimate()
    return interval
}

/// κ of MaxVio's moment selection, chosen with the coverage harness (docs/statistics.md): 1
/// kept every scenario within [0.92, 0.98]; Andrews & Soares's √ln n (2.9–3.2 there) covered
/// 0.99–1.00 in four cells, 1.5 in two.
let maxVioSelectionThreshold = 1.0

/// The percentile interval of bootstrap `values` (non-finite replicates left out) around
/// `estimate`, with the replicates' standard deviation; nil when no replicate is finite.
private func percentileInterval(_ values: [Double], _ estimate: Double, confidence: Double) -> BootstrapInterval? {
    guard let (lower, upper) = Statistics.percentileInterval(values, confidence: confidence) else { return nil }
    let finiteValues = values.filter(\.isFinite)
    let se: Double? = finiteValues.count > 1 ? gsl_stats_sd(finiteValues, 1, finiteValues.count) : nil
    var interval = BootstrapInterval(estimate: finite(estimate), lower: lower, upper: upper,
                                     standardError: se.flatMap(finite), resamples: finiteValues.count)
    interval.method = "percentile"
    interval.checkContainsEstimate()
    return interval
}


/// Permutation p-values of the class–expert mutual information of every scope:
/// `(1 + #{I* ≥ I}) / (1 + B)` (Phipson & Smyth 2010), labels permuted over units.
private func permutationTest(plan: ResamplingPlan, scopes: ScopeTables, permutations: Int,
                             seed: UInt64) -> [Double?] {
    let null = permutationDistribution(plan: plan, scopes: scopes, permutations: permutations, seed: seed)
    return (0..<null.observed.count).map { s in
        let observed = null.observed[s]
        guard observed.isFinite else { return nil }
        // Ties: an I* equal to I up to rounding counts as at least as large.
        let atLeast = null.replicates.filter { $0[s] >= observed * (1 - 1e-10) - 1e-14 }.count
        return Double(1 + atLeast) / Double(1 + permutations)
    }
}

/// The observed class–expert mutual information of every scope (layers, then all
/// layers) and its values under `permutations` label permutations (one row per permutation).
func permutationDistribution(plan: ResamplingPlan, scopes patternScopes: ScopeTables, permutations: Int,
                             seed: UInt64) -> (observed: [Double], replicates: [[Double]]) {
    let scopes = plan.scopes(patternScopes)
    let rng = GSLRandom(seed: seed, stream: 2)
    var tables = scopes.patternCounts.map { [Double](repeating: 0, count: plan.classCount * $0) }
    var weights = plan.observedWeights()
    var classes = plan.rowClass
    let tokens = weights.withUnsafeBufferPointer { plan.tokens(weights: $0.baseAddress!) }
    func mutualInformation() -> [Double] {
        weights.withUnsafeBufferPointer { w in
        classes.withUnsafeBufferPointer { c in
            plan.accumulate(weights: w.baseAddress!, classes: c.baseAddress!, patternCounts: scopes.patternCounts,
                            into: &tables)
        }}
        return scopes.headlines(tables, tokens: tokens, withAffinity: true, mutualInformationOnly: true)
            .map(\.mutualInformation)
    }
    let observed = mutualInformation()
    // Units per class, for the grouped draw.
    var classTotals = [Int](repeating: 0, count: plan.classCount)
    for row in 0..<plan.rowCount { classTotals[Int(plan.rowClass[row])] += Int(weights[row]) }
    var replicates: [[Double]] = []
    replicates.reserveCapacity(permutations)
    for _ in 0..<permutations {
        plan.permute(rng, weights: &weights, classes: &classes, classTotals: classTotals)
        replicates.append(mutualInformation())
    }
    return (observed, replicates)
}

extension ResamplingPlan {
    /// The scope tables matching this plan's columns.
    func scopes(_ patternScopes: ScopeTables) -> ScopeTables {
        columnsAreExperts
            ? ScopeTables(identityFor: patternScopes.layerCount, expertCount: patternScopes.expertCount,
                          classCount: patternScopes.classCount)
            : patternScopes
    }
}
