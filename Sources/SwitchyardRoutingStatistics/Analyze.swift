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

func analyze(trace given: RoutingTrace, options: AnalysisOptions, allowGrouping: Bool,
             limits: ResamplingLimits = ResamplingLimits()) throws -> TraceAnalysis {
    _ = GSLErrorHandling.installed
    try checkOptions(options)
    let occurring = OccurringLabels(given, cellLimit: limits.occurringLabelCells)
    let trace = occurring?.trace ?? given
    let shape = try checkTrace(trace, source: options.source)
    let reductions = try trace.layers.map {
        try reduceLayer($0, of: trace, shape: shape, source: options.source)
    }
    let plan = try makeResamplingPlan(trace: trace, reductions: reductions, shape: shape,
                                      unit: options.resamplingUnit, source: options.source,
                                      allowGrouping: allowGrouping, limits: limits,
                                      stratification: options.stratification)
    let context = AnalysisContext(trace: trace, options: options, shape: shape, reductions: reductions, plan: plan,
                                  limits: limits)
    let classTest = context.classPermutationP()
    let (intervals, groupLoads) = context.intervals(permutationP: classTest.p)
    let layers = context.layerAnalyses(intervals: intervals, classTest: classTest)
    let overall = context.overallAnalysis(layers: layers, intervals: intervals, classTest: classTest)
    let coActivations = trace.layers.compactMap { coActivation($0, experts: trace.expertCount) }
    let withAffinity = context.withAffinity
    var analysis = TraceAnalysis(
        expertCount: trace.expertCount, tokenCount: trace.tokenCount, layerCount: reductions.count,
        classCount: withAffinity ? shape.classCount : 0, classNames: trace.classNames, metadata: trace.metadata,
        resampling: ResamplingSummary(unit: plan.unitName, units: plan.unitCount,
                                      bootstrapResamples: options.bootstrapResamples,
                                      confidenceLevel: options.confidenceLevel,
                                      permutations: withAffinity ? options.permutations : 0,
                                      seed: options.seed, method: plan.method, blockSize: plan.blockSize,
                                      stratifiedByClass: withAffinity && plan.pooledRows == nil,
                                      loadRoutingGroups: groupLoads?.groupCount,
                                      loadGroupsPerUnit: groupLoads?.groupsPerUnit,
                                      routingGroups: trace.routingGroups?.count),
        layers: layers, overall: overall, layerTransitions: context.layerTransitions(),
        neighbourAgreement: context.neighbourAgreements(), coActivation: coActivations.isEmpty ? nil : coActivations,
        vocabularySpecialisation: context.vocabularySpecialisations())
    if withAffinity { analysis.classIds = occurring?.ids.map(Int.init) }
    analysis.domainSpecialisation = domainSpecialisations(
        trace: trace, members: reductions.map(\.members), permutations: options.permutations,
        seed: options.seed &+ 300, budget: limits.permutationBudget)
    analysis.sharedExperts = sharedExpertShares(trace)
    return analysis
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
