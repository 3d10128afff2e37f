import CGSL
import Foundation

/// The exact permutation test of the class–expert mutual information over units (tokens or
/// images): every permutation shuffles the units' labels (`gsl_ran_shuffle`) and recounts the
/// per-layer class × pattern tables from each token's routing pattern, O(tokens · layers) per
/// permutation. Used when the resampling plan cuts units into blocks, whose label moves are
/// not a uniform relabelling.
struct UnitPermutation {
    let reductions: [LayerReduction]
    let unitStarts: [Int32]
    let unitLabels: [Int32]
    let classCount: Int

    init(reductions: [LayerReduction], unitStarts: [Int32], labels: [Int32]?, classCount: Int) {
        self.reductions = reductions
        self.unitStarts = unitStarts
        self.classCount = classCount
        let units = unitStarts.count - 1
        unitLabels = (0..<units).map { labels?[Int(unitStarts[$0])] ?? 0 }
    }

    /// `(1 + #{I* ≥ I}) / (1 + B)` per scope (layers, then all layers), ties within 1e−10.
    func pValues(expertCount e: Int, permutations: Int, seed: UInt64) -> [Double?] {
        let rng = GSLRandom(seed: seed, stream: 2)
        // Class × expert tables (columns the experts: fewer cells to clear than patterns).
        let scopes = ScopeTables(identityFor: reductions.count, expertCount: e, classCount: classCount)
        var tables = reductions.map { _ in [Double](repeating: 0, count: classCount * e) }
        let members = reductions.map(PatternMembers.init)
        let tokens = Double(unitStarts.last ?? 0)
        var labels = unitLabels
        func mutualInformation() -> [Double] {
            for (l, m) in members.enumerated() {
                tables[l].withUnsafeMutableBufferPointer { tb in
                m.patternOfToken.withUnsafeBufferPointer { pat in
                m.offsets.withUnsafeBufferPointer { off in
                m.experts.withUnsafeBufferPointer { ex in
                unitStarts.withUnsafeBufferPointer { st in
                labels.withUnsafeBufferPointer { lab in
                    for i in 0..<tb.count { tb[i] = 0 }
                    for u in 0..<lab.count {
                        let row = Int(lab[u]) * e
                        for t in Int(st[u])..<Int(st[u + 1]) {
                            let p = Int(pat[t])
                            for j in Int(off[p])..<Int(off[p + 1]) { tb[row + Int(ex[j])] += 1 }
                        }
                    }
                }}}}}}
            }
            return scopes.headlines(tables, tokens: tokens, withAffinity: true, mutualInformationOnly: true)
                .map(\.mutualInformation)
        }
        let observed = mutualInformation()
        var atLeast = [Int](repeating: 0, count: observed.count)
        for _ in 0..<permutations {
            labels.withUnsafeMutableBufferPointer {
                gsl_ran_shuffle(rng.pointer, $0.baseAddress, $0.count, MemoryLayout<Int32>.stride)
            }
            let replicate = mutualInformation()
            for s in observed.indices where replicate[s] >= observed[s] * (1 - 1e-10) - 1e-14 { atLeast[s] += 1 }
        }
        return observed.indices.map { s in
            observed[s].isFinite ? Double(1 + atLeast[s]) / Double(1 + permutations) : nil
        }
    }
}

/// The permutation p of the mutual information between two layers' top-1 experts: the later
/// layer's units (tokens, or images: `unitStarts`) are shuffled among units of the same length,
/// token j of a unit paired with token j of its partner, which keeps each layer's dependence
/// inside images while breaking the one between layers. `(1 + #{I* ≥ I}) / (1 + B)`. When the
/// tokens times B exceed `budget`, the test runs on a uniform random subset of whole units
/// (seeded), exact conditional on the subset: `units` and `observed` are then the subset's.
func transitionPermutationP(_ a: [Int32], _ b: [Int32], experts e: Int, unitStarts: [Int32], observed: Double?,
                            permutations: Int, seed: UInt64, budget: Int = 1 << 25)
    -> (p: Double?, units: Int?, observed: Double?) {
    guard let observed, observed.isFinite else { return (nil, nil, nil) }
    let rng = GSLRandom(seed: seed, stream: 7)
    let units = unitStarts.count - 1
    guard let kept = unitSubset(Array(0..<units), cost: { Int(unitStarts[$0 + 1] - unitStarts[$0]) },
                                permutations: permutations, budget: budget, rng: rng) else {
        return (transitionPermutationP(a, b, experts: e, unitStarts: unitStarts, observed: observed,
                                       permutations: permutations, rng: rng), nil, nil)
    }
    var sa: [Int32] = [], sb: [Int32] = [], starts: [Int32] = [0]
    for u in kept {
        sa += a[Int(unitStarts[u])..<Int(unitStarts[u + 1])]
        sb += b[Int(unitStarts[u])..<Int(unitStarts[u + 1])]
        starts.append(Int32(sa.count))
    }
    let (table, used, _) = top1Table(sa, sb, experts: e)
    guard let subset = Statistics.contingency(flat: table, rows: used.count, columns: used.count).mutualInformationBits,
          subset.isFinite else { return (nil, kept.count, nil) }
    return (transitionPermutationP(sa, sb, experts: e, unitStarts: starts, observed: subset,
                                   permutations: permutations, rng: rng), kept.count, subset)
}

/// ``transitionPermutationP(_:_:experts:unitStarts:observed:permutations:seed:budget:)`` on
/// every unit given, drawing from `rng`.
private func transitionPermutationP(_ a: [Int32], _ b: [Int32], experts e: Int, unitStarts: [Int32], observed: Double,
                                    permutations: Int, rng: GSLRandom) -> Double {
    let units = unitStarts.count - 1
    var bySize: [Int: [Int32]] = [:]
    for u in 0..<units { bySize[Int(unitStarts[u + 1] - unitStarts[u]), default: []].append(Int32(u)) }
    let groups = bySize.keys.sorted().map { bySize[$0]! }
    // Both layers' experts as indices into the experts either layer uses (empty rows and
    // columns change no statistic).
    var index = [Int32](repeating: -1, count: e)
    for x in a where x >= 0 { index[Int(x)] = 0 }
    for x in b where x >= 0 { index[Int(x)] = 0 }
    var k = 0
    for x in 0..<e where index[x] == 0 { index[x] = Int32(k); k += 1 }
    let ai = a.map { $0 >= 0 ? index[Int($0)] : -1 }, bi = b.map { $0 >= 0 ? index[Int($0)] : -1 }
    var partner = (0..<units).map { Int32($0) }
    var table = [Double](repeating: 0, count: k * k)
    var atLeast = 0
    for _ in 0..<permutations {
        for group in groups where group.count > 1 {
            var g = group
            g.withUnsafeMutableBufferPointer {
                gsl_ran_shuffle(rng.pointer, $0.baseAddress, $0.count, MemoryLayout<Int32>.stride)
            }
            for (i, u) in group.enumerated() { partner[Int(u)] = g[i] }
        }
        table.withUnsafeMutableBufferPointer { tb in
        ai.withUnsafeBufferPointer { pa in
        bi.withUnsafeBufferPointer { pb in
        unitStarts.withUnsafeBufferPointer { st in
            for i in 0..<tb.count { tb[i] = 0 }
            for u in 0..<units {
                let to = Int(st[u]), from = Int(st[Int(partner[u])])
                for j in 0..<(Int(st[u + 1]) - to) {
                    let x = pa[to + j], y = pb[from + j]
                    if x >= 0 && y >= 0 { tb[Int(x) * k + Int(y)] += 1 }
                }
            }
        }}}}
        let mi = Statistics.contingency(flat: table, rows: k, columns: k).mutualInformationBits ?? 0
        if mi >= observed * (1 - 1e-10) - 1e-14 { atLeast += 1 }
    }
    return Double(1 + atLeast) / Double(1 + permutations)
}
