import SwitchyardFileIO
import Foundation
import SwitchyardTraces

/// How well two traces of the same tokens (e.g. two checkpoints of one run) agree on
/// each token's top-1 expert, per layer and over all layers.
public struct AssignmentAgreement: Codable, Sendable, Equatable {
    /// One entry per layer (layers matched by their position in the traces).
    public var layers: [LayerAgreement]
    /// All layers: agreement over (token, layer) pairs; chance agreement, mutual information
    /// and its normalised form are the layers' values weighted by their tokens, and κ is
    /// computed from the pooled agreement and that chance agreement (a token can agree only
    /// within its layer, so chance is counted per layer, not on the pooled table); the
    /// confusion table is the block-diagonal (layer, expert) table.
    public var overall: LayerAgreement
}

/// Top-1 agreement of two traces in one layer.
public struct LayerAgreement: Codable, Sendable, Equatable {
    /// The layer's index in the first trace, nil for all layers.
    @Nullable public var layer: Int?
    /// Tokens with a top-1 expert in both traces.
    public var tokens: Int
    /// Fraction of those tokens with the same top-1 expert.
    @Nullable public var agreement: Double?
    /// Agreement expected by chance from the two marginals.
    @Nullable public var expectedAgreement: Double?
    /// Cohen's κ.
    @Nullable public var cohensKappa: Double?
    /// Mutual information between the two top-1 experts, bits (invariant to expert renaming).
    @Nullable public var mutualInformationBits: Double?
    /// `2I / (H(first) + H(second))`.
    @Nullable public var normalizedMutualInformation: Double?
    /// Confusion table: first trace's expert (rows) × second trace's (columns), every expert
    /// `0..<E` (all layers: slot `layer position · E + expert`) unless ``confusionExperts`` is set.
    public var confusion: [[Int]]
    /// Set when E is above ``denseConfusionExperts``: the table then holds only the experts
    /// (slots) either trace used, and this lists them, ascending, for rows and columns alike.
    public var confusionExperts: [Int]?

    /// Up to this many experts (slots) the confusion table lists every one; above it, only
    /// the used ones (a trace with one token of expert 100,000 must not build 10¹⁰ cells).
    public static let denseConfusionExperts = 1024

    enum CodingKeys: String, CodingKey {
        case layer, tokens, agreement, expectedAgreement = "expected_agreement"
        case cohensKappa = "cohens_kappa", mutualInformationBits = "mutual_information_bits"
        case normalizedMutualInformation = "normalized_mutual_information", confusion
        case confusionExperts = "confusion_experts"
    }
}

/// Compares the top-1 assignments of two traces of the same tokens: raw agreement,
/// Cohen's κ and mutual information per layer and over all layers. A token's top-1
/// expert is its preferred expert when recorded, else its assigned expert with the
/// largest weight, else the argmax of its router probabilities; tokens without one in
/// either trace are left out.
///
/// - Throws: ``InputError`` when a trace is invalid or the two differ in token count,
///   expert count or number of layers.
public func compareAssignments(_ first: RoutingTrace, _ second: RoutingTrace,
                               firstSource: String? = nil, secondSource: String? = nil) throws -> AssignmentAgreement {
    _ = GSLErrorHandling.installed
    let shapeA = try checkTrace(first, source: firstSource)
    let shapeB = try checkTrace(second, source: secondSource)
    func mismatch(_ what: String, _ a: Int, _ b: Int) -> InputError {
        InputError(file: secondSource, location: "header",
                   message: "\(what) is \(b), but \(a) in the first trace\(firstSource.map { " (\($0))" } ?? "")")
    }
    guard first.tokenCount == second.tokenCount else { throw mismatch("token count", first.tokenCount, second.tokenCount) }
    guard first.expertCount == second.expertCount else {
        throw mismatch("expert count", first.expertCount, second.expertCount)
    }
    guard first.layers.count == second.layers.count else {
        throw mismatch("layer count", first.layers.count, second.layers.count)
    }
    let e = first.expertCount, layerCount = first.layers.count
    let dense = layerCount * e <= LayerAgreement.denseConfusionExperts
    var results: [LayerAgreement] = []
    var blocks: [(table: [Double], experts: [Int])] = []
    for l in 0..<layerCount {
        let a = try reduceLayer(first.layers[l], of: first, shape: shapeA, source: firstSource).top1
        let b = try reduceLayer(second.layers[l], of: second, shape: shapeB, source: secondSource).top1
        var (table, used, tokens) = top1Table(a, b, experts: e)
        if dense { (table, used) = (expand(table, used, to: e), Array(0..<e)) }
        let k = used.count
        let square = (0..<k).map { x in Array(table[(x * k)..<((x + 1) * k)]) }
        var result = agreement(square, layer: first.layers[l].layer, tokens: tokens)
        if !dense { result.confusionExperts = used }
        results.append(result)
        blocks.append((table, used.map { l * e + $0 }))
    }
    // All layers: the block-diagonal (layer, expert) table.
    let slots = blocks.flatMap(\.experts)
    var pooled = [[Double]](repeating: [Double](repeating: 0, count: slots.count), count: slots.count)
    var offset = 0
    for block in blocks {
        let k = block.experts.count
        for x in 0..<k { for y in 0..<k { pooled[offset + x][offset + y] = block.table[x * k + y] } }
        offset += k
    }
    var overall = pooledAgreement(results, confusion: pooled)
    if !dense { overall.confusionExperts = slots }
    return AssignmentAgreement(layers: results, overall: overall)
}

/// A table over `used` experts spread onto all `e` (rows and columns in expert order).
private func expand(_ table: [Double], _ used: [Int], to e: Int) -> [Double] {
    var out = [Double](repeating: 0, count: e * e)
    let k = used.count
    for x in 0..<k { for y in 0..<k { out[used[x] * e + used[y]] = table[x * k + y] } }
    return out
}

/// The all-layers agreement: token-weighted means of the layers' agreement, chance agreement
/// and mutual information, and κ from the first two. (Cohen's κ on the pooled block-diagonal
/// table would count agreement by chance across layers, which cannot happen, and report
/// κ ≈ 1 − 1/L for routing that agrees only by chance.)
private func pooledAgreement(_ layers: [LayerAgreement], confusion: [[Double]]) -> LayerAgreement {
    let tokens = layers.reduce(0) { $0 + $1.tokens }
    func weighted(_ value: (LayerAgreement) -> Double?) -> Double? {
        guard tokens > 0 else { return nil }
        var sum = 0.0
        for layer in layers where layer.tokens > 0 {
            guard let v = value(layer) else { return nil }
            sum += Double(layer.tokens) * v
        }
        return sum / Double(tokens)
    }
    let observed = weighted(\.agreement), expected = weighted(\.expectedAgreement)
    var kappa: Double?
    if let observed, let expected, expected < 1 { kappa = (observed - expected) / (1 - expected) }
    return LayerAgreement(layer: nil, tokens: tokens, agreement: observed, expectedAgreement: expected,
                          cohensKappa: kappa, mutualInformationBits: weighted(\.mutualInformationBits),
                          normalizedMutualInformation: weighted(\.normalizedMutualInformation),
                          confusion: confusion.map { $0.map { Int($0) } })
}

private func agreement(_ confusion: [[Double]], layer: Int?, tokens: Int) -> LayerAgreement {
    let kappa = Statistics.cohensKappa(confusion)
    let mi = Statistics.contingency(confusion)
    return LayerAgreement(layer: layer, tokens: tokens, agreement: kappa.agreement,
                          expectedAgreement: kappa.expected, cohensKappa: kappa.kappa,
                          mutualInformationBits: mi.mutualInformationBits,
                          normalizedMutualInformation: mi.normalizedMutualInformation,
                          confusion: confusion.map { $0.map { Int($0) } })
}

// MARK: Comparing runs

/// Welch's t-tests of the headline numbers of two groups of runs (for example several
/// seeds of two routers), per layer and over all layers.
public struct RunComparison: Codable, Sendable, Equatable {
    /// Runs in the first group.
    public var countA: Int
    /// Runs in the second group.
    public var countB: Int
    /// One entry per metric and scope.
    public var metrics: [MetricComparison]

    enum CodingKeys: String, CodingKey {
        case countA = "count_a", countB = "count_b", metrics
    }
}

/// One metric of one scope compared across two groups of runs.
public struct MetricComparison: Codable, Sendable, Equatable {
    /// "cv", "gini", "max_vio", "mutual_information_bits", "cramers_v",
    /// "mean_experts_per_token" or "dropped_fraction".
    public var metric: String
    /// "layer N" or "all layers".
    public var scope: String
    /// The test; nil when a group has fewer than two runs with the metric defined.
    @Nullable public var test: WelchTTest?
    /// The test's p after Holm's adjustment within its family: this metric over every scope
    /// (the layers and all layers). Read this one.
    public var holmP: Double?
    /// The 95 % Welch interval of `meanA − meanB`.
    public var differenceLower: Double?
    public var differenceUpper: Double?
    /// Hedges' g (``Statistics/hedgesG(_:)``).
    public var hedgesG: Double?
    /// The smallest |A − B| these runs would detect at α = 0.05 with power 0.8
    /// (``Statistics/minimumDetectableDifference(_:alpha:power:)``).
    public var minimumDetectableDifference: Double?
    /// Student's paired t-test of the per-seed differences A − B, when runs of both groups share
    /// two or more seeds, with its p Holm-adjusted within the metric's paired family.
    public var paired: PairedComparison?

    enum CodingKeys: String, CodingKey {
        case metric, scope, test, holmP = "holm_p", differenceLower = "difference_lower"
        case differenceUpper = "difference_upper", hedgesG = "hedges_g", paired
        case minimumDetectableDifference = "minimum_detectable_difference"
    }
}

/// A paired comparison by seed (``Statistics/pairedTTest(_:)``).
public struct PairedComparison: Codable, Sendable, Equatable {
    /// Seeds both groups ran, and the mean of their differences A − B.
    public var pairs: Int
    public var meanDifference: Double
    public var t: Double?
    public var degreesOfFreedom: Double
    public var p: Double?
    public var holmP: Double?

    enum CodingKeys: String, CodingKey {
        case pairs, t, p, meanDifference = "mean_difference", degreesOfFreedom = "degrees_of_freedom", holmP = "holm_p"
    }
}

/// Compares two groups of analyses (one per run) metric by metric with Welch's t-test.
/// Layers are matched by position; runs where a metric is undefined are left out of
/// that metric's test.
///
/// - Throws: ``InputError`` when the groups' analyses differ in layer count.
/// With `seedsA` and `seedsB` (each run's seed, in the order of `a` and `b`), runs of the two
/// groups with the same seed are also compared pairwise (``MetricComparison/paired``).
public func compareRuns(_ a: [TraceAnalysis], _ b: [TraceAnalysis], alternative: Alternative = .twoSided,
                        seedsA: [Int]? = nil, seedsB: [Int]? = nil) throws -> RunComparison {
    let layerCounts = Set((a + b).map(\.layerCount))
    guard layerCounts.count <= 1 else {
        throw InputError(location: "runs", message: "analyses have different layer counts \(layerCounts.sorted())")
    }
    let metrics: [(String, (LayerAnalysis) -> Double?)] = [
        ("cv", { $0.load.cv }), ("gini", { $0.load.gini }), ("max_vio", { $0.load.maxVio }),
        ("mutual_information_bits", { $0.affinity.mutualInformationBits }),
        ("cramers_v", { $0.affinity.cramersV }),
        ("mean_experts_per_token", { $0.heterogeneity.meanExpertsPerToken }),
        ("dropped_fraction", { $0.load.droppedFraction }),
    ]
    let layerCount = layerCounts.first ?? 0
    var out: [MetricComparison] = []
    for scope in 0...layerCount {
        func pick(_ analysis: TraceAnalysis) -> LayerAnalysis {
            scope < layerCount ? analysis.layers[scope] : analysis.overall
        }
        let name = scope < layerCount ? (a.first ?? b.first).map { pick($0).scope } ?? "layer \(scope)" : "all layers"
        for (metric, value) in metrics {
            let xa = a.compactMap { value(pick($0)) }, xb = b.compactMap { value(pick($0)) }
            let test = xa.count >= 2 && xb.count >= 2
                ? try Statistics.welchTTest(xa, xb, alternative: alternative) : nil
            var comparison = MetricComparison(metric: metric, scope: name, test: test)
            if let test, let ci = Statistics.welchDifferenceInterval(test) {
                (comparison.differenceLower, comparison.differenceUpper) = ci
            }
            comparison.hedgesG = test.flatMap(Statistics.hedgesG)
            comparison.minimumDetectableDifference = test.flatMap { Statistics.minimumDetectableDifference($0) }
            if let seedsA, let seedsB, seedsA.count == a.count, seedsB.count == b.count {
                let d = Statistics.seedDifferences(zip(seedsA, a).map { ($0, value(pick($1))) },
                                                   zip(seedsB, b).map { ($0, value(pick($1))) })
                comparison.paired = Statistics.pairedTTest(d).map {
                    PairedComparison(pairs: d.count, meanDifference: $0.mean, t: $0.t, degreesOfFreedom: $0.degreesOfFreedom, p: $0.p)
                }
            }
            out.append(comparison)
        }
    }
    // Holm within each metric's family (its scopes).
    for (metric, _) in metrics {
        let family = out.indices.filter { out[$0].metric == metric }
        let adjusted = Statistics.holm(family.map { out[$0].test?.p })
        for (k, i) in family.enumerated() { out[i].holmP = adjusted[k] }
        let pairedAdjusted = Statistics.holm(family.map { out[$0].paired?.p })
        for (k, i) in family.enumerated() { out[i].paired?.holmP = pairedAdjusted[k] }
    }
    return RunComparison(countA: a.count, countB: b.count, metrics: out)
}
