import Foundation
import SwitchyardTraces

/// How much a token's domain — the corpus its sequence came from, given by the user
/// (``RoutingTrace/domains``) — decides its experts in one layer: domain specialisation
/// (routers-next B3; Mixtral, Jiang et al. 2024, §5; OLMoE, Muennighoff et al. 2024, §5).
///
/// `share[d][i]` is the share of domain d's tokens whose experts include expert i. Uniform
/// routing gives every cell `chance` = k̄/E (k̄ the layer's mean experts per token; k/E for top-k);
/// a domain-blind router with uneven loads gives each cell the expert's share of all tokens,
/// `overallShare[i]`. A domain's `lift` is the largest `share[d][i] / overallShare[i]` over the
/// experts (1 = the domain is routed like the rest). The test: the mutual information between
/// domain and expert over the assignments, with the domains permuted over whole units (sequences
/// when every routing group holds one domain, else tokens), exact, `(1 + #{I* ≥ I})/(1 + B)`;
/// beyond a work budget on a random subset of whole units (``UnitPermutation``).
public struct DomainSpecialisation: Codable, Sendable, Equatable {
    /// The layer's block number.
    public var layer: Int
    /// Tokens of each domain (index = domain).
    public var tokens: [Int]
    /// Domain names, when the trace has them.
    public var names: [String]?
    /// Share of each domain's tokens reaching each expert: `share[d][i]`.
    public var share: [[Double]]
    /// Each expert's share of all tokens.
    public var overallShare: [Double]
    /// k̄/E, the share under uniform routing.
    public var chance: Double
    /// Per domain: the expert with the largest `share / overallShare` and that ratio.
    public var liftExpert: [Int?]
    public var lift: [Double?]
    /// Mutual information of domain and expert over the assignments, bits.
    @Nullable public var mutualInformationBits: Double?
    /// The permutation test: p, permutations, the units permuted and how many.
    @Nullable public var permutationP: Double?
    public var permutations: Int
    public var units: String
    public var unitCount: Int
    /// With a subset: its units and its own mutual information, which the p is about.
    @Nullable public var permutationUnits: Int?
    @Nullable public var permutationMutualInformationBits: Double?

    enum CodingKeys: String, CodingKey {
        case layer, tokens, names, share, chance, lift, permutations, units
        case overallShare = "overall_share", liftExpert = "lift_expert", unitCount = "unit_count"
        case mutualInformationBits = "mutual_information_bits", permutationP = "permutation_p"
        case permutationUnits = "permutation_units"
        case permutationMutualInformationBits = "permutation_mutual_information_bits"
    }
}

/// The domain specialisation of every layer of `trace` (nil without domains), with the
/// permutation test over `members` (each layer's experts per token).
func domainSpecialisations(trace: RoutingTrace, members: [PatternMembers], permutations: Int, seed: UInt64,
                           budget: Int) -> [DomainSpecialisation]? {
    guard let domains = trace.domains, !trace.layers.isEmpty else { return nil }
    let n = trace.tokenCount, e = trace.expertCount
    let domainCount = Int(domains.max() ?? -1) + 1
    guard domainCount > 0 else { return nil }
    // Units: the routing groups when each holds one domain, else tokens.
    var starts = (0...n).map { Int32($0) }
    var unitName = "tokens"
    if let groups = routingGroupStarts(trace), (0..<(groups.count - 1)).allSatisfy({ g in
        (Int(groups[g])..<Int(groups[g + 1])).allSatisfy { domains[$0] == domains[Int(groups[g])] }
    }) {
        starts = groups
        unitName = trace.kind == .sequences ? "sequences" : "routing groups"
    }
    var test: (p: [Double?], units: Int?, observed: [Double]?) = ([Double?](repeating: nil, count: members.count + 1), nil, nil)
    if permutations > 0 {
        if let (subset, kept) = UnitPermutation.subset(members: members, unitStarts: starts, labels: domains,
                                                        permutations: permutations, budget: budget, seed: seed) {
            let (p, observed) = subset.pValues(expertCount: e, permutations: permutations, seed: seed)
            test = (p, kept.count, observed)
        } else {
            let whole = UnitPermutation(members: members, unitStarts: starts, labels: domains, classCount: domainCount)
            test = (whole.pValues(expertCount: e, permutations: permutations, seed: seed).p, nil, nil)
        }
    }
    var tokens = [Int](repeating: 0, count: domainCount)
    for d in domains { tokens[Int(d)] += 1 }
    let names = trace.domainNames.isEmpty ? nil : Array(trace.domainNames.prefix(domainCount))
    return trace.layers.enumerated().map { l, layer in
        var table = [Double](repeating: 0, count: domainCount * e)
        addDomainAssignments(&table, layer, domains: domains, experts: e)
        var result = domainSpecialisation(layer: layer.layer, table: table, tokens: tokens, names: names,
                                          assignments: layer.experts.count, units: unitName, unitCount: starts.count - 1)
        result.permutationP = test.p[l]
        result.permutations = permutations
        result.permutationUnits = test.units
        result.permutationMutualInformationBits = test.observed?[l]
        return result
    }
}

/// Adds each assignment of `layer` to the row of its token's domain in `table` (domain × expert).
func addDomainAssignments(_ table: inout [Double], _ layer: LayerRouting, domains: [Int32], experts e: Int) {
    for t in 0..<(layer.offsets.count - 1) {
        let row = Int(domains[t]) * e
        for j in Int(layer.offsets[t])..<Int(layer.offsets[t + 1]) { table[row + Int(layer.experts[j])] += 1 }
    }
}

/// One layer's shares, lifts and mutual information from its domain × expert `table`, the
/// `tokens` of each domain and the layer's `assignments`, without a permutation test.
func domainSpecialisation(layer: Int, table: [Double], tokens: [Int], names: [String]?, assignments: Int,
                          units: String, unitCount: Int) -> DomainSpecialisation {
    let domainCount = tokens.count, e = table.count / max(domainCount, 1)
    let n = tokens.reduce(0, +)
    let share = (0..<domainCount).map { d in
        (0..<e).map { i in tokens[d] > 0 ? table[d * e + i] / Double(tokens[d]) : 0 }
    }
    let overall = (0..<e).map { i in (0..<domainCount).reduce(0.0) { $0 + table[$1 * e + i] } / Double(n) }
    var liftExpert: [Int?] = [], lift: [Double?] = []
    for d in 0..<domainCount {
        var best: Int? = nil, bestLift = 0.0
        for i in 0..<e where tokens[d] > 0 && overall[i] > 0 && share[d][i] / overall[i] > bestLift {
            best = i
            bestLift = share[d][i] / overall[i]
        }
        liftExpert.append(best)
        lift.append(best.map { _ in bestLift })
    }
    return DomainSpecialisation(
        layer: layer, tokens: tokens, names: names, share: share, overallShare: overall,
        chance: Double(assignments) / Double(n * e), liftExpert: liftExpert, lift: lift,
        mutualInformationBits: Statistics.contingency(flat: table, rows: domainCount, columns: e).mutualInformationBits,
        permutationP: nil, permutations: 0, units: units, unitCount: unitCount,
        permutationUnits: nil, permutationMutualInformationBits: nil)
}
