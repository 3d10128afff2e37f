import CGSL
import Foundation
import SwitchyardTraces

/// What every phase of ``analyze(trace:options:allowGrouping:limits:)`` reads: the checked
/// trace, its per-layer reductions, the resampling plan, and the point tables of every scope.
/// Each phase is a method; the order they run in does not change a number (each random draw has
/// its own seeded stream).
struct AnalysisContext {
    let trace: RoutingTrace
    let options: AnalysisOptions
    let shape: TraceShape
    let reductions: [LayerReduction]
    let plan: ResamplingPlan
    let limits: ResamplingLimits
    /// Tables over each layer's routing patterns (for the grouped resampling plan).
    let scopes: ScopeTables
    /// Tables whose columns are the experts (for the point estimates).
    var expertScopes: ScopeTables { points.expertScopes }
    var withAffinity: Bool { points.withAffinity }
    /// The point estimates' tables (class × (layer, expert) counts, each layer's assignments).
    let points: PointEstimates
    var classSlot: [Double] { points.classSlot }
    var assignments: [Double] { points.assignments }
    var layerCount: Int { reductions.count }
    var e: Int { trace.expertCount }
    var n: Int { trace.tokenCount }

    init(trace: RoutingTrace, options: AnalysisOptions, shape: TraceShape, reductions: [LayerReduction],
         plan: ResamplingPlan, limits: ResamplingLimits) {
        self.trace = trace
        self.options = options
        self.shape = shape
        self.reductions = reductions
        self.plan = plan
        self.limits = limits
        scopes = ScopeTables(reductions: reductions, expertCount: trace.expertCount, classCount: shape.classCount)
        var computeSums = ComputeSumTally(classCount: shape.classCount)
        computeSums.add(trace.layers, labels: trace.labels)
        points = PointEstimates(options: options, shape: shape, tokens: trace.tokenCount, expertCount: trace.expertCount,
                                classNames: trace.classNames, reductions: reductions, computeSums: computeSums)
    }

    /// The permutation p of the class–expert mutual information of every scope (layers, then
    /// all layers; the same permutations for every scope), nil without labels or permutations.
    func classPermutationP() -> ClassPermutationResult {
        var permutationP = [Double?](repeating: nil, count: layerCount + 1)
        if withAffinity && options.permutations > 0 {
            // Blocks keep runs of same-class units together, which with skewed labels and
            // neighbours routed alike is not a permutation of the labels (p = 1 under the null in
            // the coverage harness): those traces permute unit labels exactly instead.
            if plan.method == "blocks", let starts = plan.unitStarts {
                // One row per unit when that is much less work than visiting every token (images
                // hold few distinct experts) and fits 2^24 entries; else token by token.
                let units = UnitOrder(starts: starts, labels: trace.labels, classCount: shape.classCount)
                let members = reductions.map(\.members)
                let entries = units.estimatedEntries(blockSize: 1, members: members, experts: e)
                if entries <= Double(1 << 24) && entries * 2 <= Double(n * layerCount) {
                    let perUnit = unitPlan(trace: trace, members: members, units: units, classCount: shape.classCount,
                                           unitName: plan.unitName, blockSize: 1)
                    permutationP = permutationTest(plan: perUnit, scopes: scopes, permutations: options.permutations,
                                                   seed: options.seed)
                } else if let (test, kept) = UnitPermutation.subset(
                    members: members, unitStarts: starts, labels: trace.labels, permutations: options.permutations,
                    budget: limits.permutationBudget, seed: options.seed) {
                    let (p, observed) = test.pValues(expertCount: e, permutations: options.permutations,
                                                     seed: options.seed)
                    return ClassPermutationResult(p: p, units: kept.count, observed: observed)
                } else {
                    let exact = UnitPermutation(members: members, unitStarts: starts, labels: trace.labels,
                                                classCount: shape.classCount)
                    permutationP = exact.pValues(expertCount: e, permutations: options.permutations, seed: options.seed).p
                }
            } else {
                permutationP = permutationTest(plan: plan, scopes: scopes, permutations: options.permutations,
                                               seed: options.seed)
            }
        }
        return ClassPermutationResult(p: permutationP, units: nil, observed: nil)
    }

    /// The bootstrap intervals of every scope, with the rules that replace them: load intervals
    /// by routing group, loads fixed by capacity, no detectable affinity, sparse tables.
    func intervals(permutationP: [Double?]) -> (scopes: [UncertaintyStatistics?], groupLoads: RoutingGroupLoads?) {
        var intervals = [UncertaintyStatistics?](repeating: nil, count: layerCount + 1)
        let groupLoads = options.bootstrapResamples > 0
            ? RoutingGroupLoads(trace: trace, maximumCells: limits.maxEntries) : nil
        // Sparse tables (token-id labels): no interval for MI and V, whose corrections and their
        // bootstrap need expected counts of 5 or more (Cochran's rule, SparseTable). When every
        // scope's table is sparse the bootstrap leaves MI and V out.
        let sparseShares: [Double?] = (0...layerCount).map { s in
            guard withAffinity else { return nil }
            let table = scopes.classExpert(classSlot, layer: s < layerCount ? s : nil)
            let share = SparseTable.shareBelowFive(table, rows: shape.classCount, columns: table.count / max(shape.classCount, 1))
            return share > SparseTable.maximumShare ? share : nil
        }
        let affinityBootstrap = withAffinity && sparseShares.contains { $0 == nil }
        if options.bootstrapResamples > 0 {
            let estimates = expertScopes.headlines(reductions.map(\.classExpert), tokens: Double(n), withAffinity: withAffinity)
            intervals = affinityBootstrap || groupLoads == nil
                ? bootstrap(plan: plan, scopes: scopes, resamples: options.bootstrapResamples,
                            confidence: options.confidenceLevel, seed: options.seed,
                            withAffinity: affinityBootstrap, withLoads: groupLoads == nil, estimates: estimates,
                            classSlot: classSlot, sparse: sparseShares.map { $0 != nil })
                : estimates.map { headlineIntervals([], $0, confidence: options.confidenceLevel, withAffinity: false,
                                                    withLoads: false) }
            if withAffinity && !affinityBootstrap {
                for s in 0...layerCount {
                    let mi = estimates[s].mutualInformationCorrected, v2 = estimates[s].cramersVSquaredCorrected
                    intervals[s]?.mutualInformationBits = .withheld(
                        estimate: mi.isFinite ? max(0, mi) : .nan, plugIn: estimates[s].mutualInformation)
                    intervals[s]?.cramersV = .withheld(
                        estimate: v2.isFinite ? max(0, v2).squareRoot() : .nan, plugIn: estimates[s].cramersV)
                }
            }
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
            // sample can leave one short, so their loads are not fixed by capacity (only by the
            // rule below, when every resampling unit happened to load them alike).
            let fillsByDesign = routerFillsEveryExpert(trace.metadata)
            let full = reductions.enumerated().map { l, r -> Bool in
                guard fillsByDesign, let capacity = r.capacity else { return false }
                return scopes.expertCounts(classSlot, layer: l).allSatisfy { $0 == Double(capacity) }
            }
            // Loads alike in every resampling unit (LoadsAlike): no resample changes them, so the
            // plug-in values are exact and no bias correction applies. All layers are alike when
            // every layer is (each unit's loads are then its tokens times one share vector).
            let unit = groupLoads != nil ? "routing group" : plan.blockSize > 1 ? "block" : String(plan.unitName.dropLast())
            let alike = (0..<layerCount).map { groupLoads?.loadsAlike(layer: $0) ?? plan.loadsAlike(layer: $0, expertCount: e) }
            func all(_ flags: [Bool]) -> Bool { !flags.isEmpty && flags.allSatisfy { $0 } }
            for s in 0...layerCount {
                let reason = (s < layerCount ? full[s] : all(full)) ? "capacity"
                    : (s < layerCount ? alike[s] : all(alike)) ? "routing alike in every \(unit)" : nil
                guard let reason, var u = intervals[s] else { continue }
                u.fixLoads(at: estimates[s], by: reason)
                intervals[s] = u
            }
        }

        // At the boundary the calibrated permutation test decides whether 0 is in the set:
        // not rejecting, the affinity intervals start at 0 and say so; rejecting, a lower end
        // of 0 is open.
        for s in 0...layerCount {
            guard var u = intervals[s], let p = permutationP[s] else { continue }
            let detected = p <= 1 - options.confidenceLevel
            u.mutualInformationBits = detected ? u.mutualInformationBits?.withDetectedEffect()
                                               : u.mutualInformationBits?.withoutDetectableEffect()
            u.cramersV = detected ? u.cramersV?.withDetectedEffect() : u.cramersV?.withoutDetectableEffect()
            intervals[s] = u
        }

        for s in 0...layerCount {
            guard var u = intervals[s], u.mutualInformationBits != nil || u.cramersV != nil,
                  let share = sparseShares[s] else { continue }
            u.mutualInformationBits = u.mutualInformationBits?.withheld(sparseShare: share)
            u.cramersV = u.cramersV?.withheld(sparseShare: share)
            intervals[s] = u
        }
        return (intervals, groupLoads)
    }

    /// Every layer's statistics.
    func layerAnalyses(intervals: [UncertaintyStatistics?], classTest: ClassPermutationResult) -> [LayerAnalysis] {
        points.layerAnalyses(intervals: intervals, classTest: classTest)
    }

    /// The statistics of all layers together.
    func overallAnalysis(layers: [LayerAnalysis], intervals: [UncertaintyStatistics?],
                         classTest: ClassPermutationResult) -> LayerAnalysis {
        points.overallAnalysis(layers: layers, intervals: intervals, classTest: classTest)
    }

        // Consecutive layers, or every pair of layers (`allLayerPairs`); a pair's permutation stream
        // is the seed plus the earlier layer for consecutive pairs, as it always was.
    func layerTransitions() -> [LayerTransition] {
        var transitions: [LayerTransition] = []
        if layerCount > 1 {
            let units = plan.unitStarts ?? (0...n).map { Int32($0) }
            let pairs = transitionPairs(layers: layerCount, allLayerPairs: options.allLayerPairs)
            for (l, m) in pairs {
                var transition = layerTransition(from: reductions[l].layerNumber, to: reductions[m].layerNumber,
                                                 top1Table(reductions[l].top1, reductions[m].top1, experts: e),
                                                 withTable: options.allLayerPairs)
                // At most 2^25 token visits per transition (a tenth of a second): beyond, the test
                // runs on a random subset of whole units (`permutation_units`).
                let count = options.permutations
                if count > 0 {
                    let test = transitionPermutationP(
                        reductions[l].top1, reductions[m].top1, experts: e, unitStarts: units,
                        observed: transition.mutualInformationBits, permutations: count,
                        seed: options.seed &+ UInt64(m == l + 1 ? l : layerCount * (l + 1) + m))
                    transition.mutualInformationPermutationP = test.p
                    transition.permutationUnits = test.units
                    transition.permutationMutualInformationBits = test.observed
                    transition.permutations = count
                }
                transitions.append(transition)
            }
        }
        return transitions
    }

        // Neighbouring tokens and co-activated experts, per layer.
        // Images (positions restarting at the same value, one label per run, and the trace not marked
        // as sequences): the patch grid, class token left out. Otherwise sequences: consecutive
        // tokens of each routing group.
    func neighbourAgreements() -> [NeighbourAgreement]? {
        var neighbours: NeighbourPairs
        if let positions = trace.positions, let images = imageGroups(trace) {
            neighbours = NeighbourPairs(positions: positions, unitStarts: images)
        } else {
            neighbours = NeighbourPairs(positions: nil, unitStarts: routingGroupStarts(trace) ?? [0, Int32(n)])
            if trace.routingGroups != nil { neighbours.description = "consecutive tokens of each routing group" }
        }
        let neighbourPermutations = options.permutations
        let agreements = reductions.enumerated().map { l, r in
            neighbourAgreement(layer: r.layerNumber, top1: r.top1, pairs: neighbours, experts: e,
                               permutations: neighbourPermutations, seed: options.seed &+ UInt64(100 + l))
        }
        return neighbours.first.isEmpty ? nil : agreements
    }

        // Token ids (labels that vary within units, not one per image): vocabulary specialisation.
    func vocabularySpecialisations() -> [VocabularySpecialisation]? {
        var vocabulary: [VocabularySpecialisation]? = nil
        if let labels = trace.labels, withAffinity, imageGroups(trace) == nil {
            var starts: [Int32]
            let unitName: String
            if let groups = routingGroupStarts(trace) {
                starts = groups
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
        return vocabulary
    }
}

/// The layer pairs the transitions cover: consecutive layers, or every pair (`allLayerPairs`).
func transitionPairs(layers: Int, allLayerPairs: Bool) -> [(Int, Int)] {
    allLayerPairs ? (0..<layers).flatMap { l in ((l + 1)..<layers).map { (l, $0) } }
        : (0..<max(0, layers - 1)).map { ($0, $0 + 1) }
}

/// The dependence of two layers' first experts from their ``top1Table(_:_:experts:)``, without a
/// permutation test; `withTable` keeps the table.
func layerTransition(from: Int, to: Int, _ top1: (table: [Double], experts: [Int], tokens: Int),
                     withTable: Bool) -> LayerTransition {
    let (table, used, tokens) = top1
    let s = Statistics.contingency(flat: table, rows: used.count, columns: used.count)
    var transition = LayerTransition(
        fromLayer: from, toLayer: to, tokens: tokens, mutualInformationBits: s.mutualInformationBits,
        normalizedMutualInformation: s.normalizedMutualInformation, cramersV: s.cramersV,
        chi2: s.chi2, chi2DF: s.chi2DF, chi2P: s.chi2P)
    transition.mutualInformationCorrectedBits = s.mutualInformationCorrectedBits
    if withTable {
        transition.coOccurrenceExperts = used
        transition.coOccurrence = (0..<used.count).map { i in (0..<used.count).map { Int(table[i * used.count + $0]) } }
    }
    return transition
}
