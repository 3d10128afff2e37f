import CGSL
import Foundation
import SwitchyardTraces

/// Permutation p-values of the class–expert mutual information of every scope:
/// `(1 + #{I* ≥ I}) / (1 + B)` (Phipson & Smyth 2010), labels permuted over units.
func permutationTest(plan: ResamplingPlan, scopes: ScopeTables, permutations: Int,
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
