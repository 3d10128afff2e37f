import CGSL
import Foundation

/// The exact permutation test of the class–expert mutual information over units (tokens or
/// images): every permutation shuffles the units' labels (`gsl_ran_shuffle`) and recounts the
/// per-layer class × pattern tables from each token's routing pattern, O(tokens · layers) per
/// permutation. Used when the resampling plan cuts units into blocks, whose label moves are
/// not a uniform relabelling.
///
/// When the units' assignments times B exceed a work budget, the test runs on a uniform random
/// subset of whole units (``subset(members:unitStarts:labels:permutations:budget:seed:)``),
/// exact conditional on the subset, as the neighbour and layer-to-layer tests do.
struct UnitPermutation {
    let members: [PatternMembers]
    let unitStarts: [Int32]
    let unitLabels: [Int32]
    let classCount: Int

    init(members: [PatternMembers], unitStarts: [Int32], labels: [Int32]?, classCount: Int) {
        self.members = members
        self.unitStarts = unitStarts
        self.classCount = classCount
        let units = unitStarts.count - 1
        unitLabels = (0..<units).map { labels?[Int(unitStarts[$0])] ?? 0 }
    }

    /// The test on a random subset of whole units (seeded) when every unit's assignments, over
    /// all layers, times `permutations` exceed `budget`, with the units kept (ascending); nil
    /// when every unit fits. The subset's
    /// classes are renumbered densely (empty rows change no statistic), its tokens each their
    /// own pattern.
    static func subset(members: [PatternMembers], unitStarts: [Int32], labels: [Int32]?, permutations: Int,
                       budget: Int, seed: UInt64) -> (test: UnitPermutation, kept: [Int])? {
        let units = unitStarts.count - 1
        func cost(_ u: Int) -> Int {
            let first = Int(unitStarts[u]), end = Int(unitStarts[u + 1])
            return members.reduce(0) { sum, m in
                sum + m.withPatterns { pat, identity in
                    (first..<end).reduce(0) { s, t in
                        let p = identity ? t : Int(pat[t])
                        return s + Int(m.offsets[p + 1] - m.offsets[p])
                    }
                }
            }
        }
        guard let kept = unitSubset(Array(0..<units), cost: cost, permutations: permutations, budget: budget,
                                    rng: GSLRandom(seed: seed, stream: 13)) else { return nil }
        var starts: [Int32] = [0], tokens: [Int] = []
        for u in kept {
            tokens += Int(unitStarts[u])..<Int(unitStarts[u + 1])
            starts.append(Int32(tokens.count))
        }
        var renumbered: [Int32: Int32] = [:]
        let subsetLabels = labels.map { all in
            tokens.map { t -> Int32 in
                if let c = renumbered[all[t]] { return c }
                let c = Int32(renumbered.count)
                renumbered[all[t]] = c
                return c
            }
        }
        return (UnitPermutation(members: members.map { $0.restricted(to: tokens) }, unitStarts: starts,
                                labels: subsetLabels, classCount: max(1, renumbered.count)), kept)
    }

    /// `(1 + #{I* ≥ I}) / (1 + B)` per scope (layers, then all layers), ties within 1e−10, and
    /// the observed mutual information of each scope.
    func pValues(expertCount e: Int, permutations: Int, seed: UInt64) -> (p: [Double?], observed: [Double]) {
        let rng = GSLRandom(seed: seed, stream: 2)
        // Class × expert tables (columns the experts: fewer cells to clear than patterns).
        let layers = members.count
        var tables = members.map { _ in [Double](repeating: 0, count: classCount * e) }
        // The class × (layer, expert) table of all layers, and the margins: reused, not allocated
        // per permutation.
        var joint = [Double](repeating: 0, count: layers > 1 ? classCount * layers * e : 0)
        var rowSum: [Double] = [], columnSum: [Double] = []
        var labels = unitLabels
        func mutualInformation() -> [Double] {
            for (l, m) in members.enumerated() {
                tables[l].withUnsafeMutableBufferPointer { tb in
                m.withPatterns { pat, identity in
                m.offsets.withUnsafeBufferPointer { off in
                m.experts.withUnsafeBufferPointer { ex in
                unitStarts.withUnsafeBufferPointer { st in
                labels.withUnsafeBufferPointer { lab in
                    for i in 0..<tb.count { tb[i] = 0 }
                    for u in 0..<lab.count {
                        let row = Int(lab[u]) * e
                        for t in Int(st[u])..<Int(st[u + 1]) {
                            let p = identity ? t : Int(pat[t])
                            for j in Int(off[p])..<Int(off[p + 1]) { tb[row + Int(ex[j])] += 1 }
                        }
                    }
                }}}}}}
            }
            func information(_ table: UnsafeBufferPointer<Double>, columns: Int) -> Double {
                Statistics.mutualInformationBits(flat: table.baseAddress!, rows: classCount, columns: columns,
                                                 rowSum: &rowSum, columnSum: &columnSum) ?? .nan
            }
            var out = tables.map { $0.withUnsafeBufferPointer { information($0, columns: e) } }
            if layers == 1 {
                out.append(out[0])
            } else {
                joint.withUnsafeMutableBufferPointer { j in
                    for (l, table) in tables.enumerated() {
                        for c in 0..<classCount {
                            for x in 0..<e { j[c * layers * e + l * e + x] = table[c * e + x] }
                        }
                    }
                }
                out.append(joint.withUnsafeBufferPointer { information($0, columns: layers * e) })
            }
            return out
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
        return (observed.indices.map { s in
            observed[s].isFinite ? Double(1 + atLeast[s]) / Double(1 + permutations) : nil
        }, observed)
    }
}

/// The class permutation test of every scope (``AnalysisContext/classPermutationP()``): its p,
/// and when it ran on a random subset of units, how many and the subset's mutual information.
struct ClassPermutationResult {
    var p: [Double?]
    var units: Int?
    var observed: [Double]?
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
