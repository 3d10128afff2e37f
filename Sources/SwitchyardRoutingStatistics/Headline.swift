import CGSL
import Foundation

/// The imbalance numbers of a vector of per-expert counts, shared by the full load
/// statistics and the bootstrap so that estimate and replicates agree exactly.
struct LoadSummary {
    var mean = Double.nan
    var cv = Double.nan
    var maxVio = Double.nan
    var gini = Double.nan
    /// CV² from the unbiased estimate of Σ p² (``Statistics/unbiasedCVSquared(_:)``).
    var cvSquaredUnbiased = Double.nan
    /// Each expert's (or slot's) share of the assignments, for MaxVio's interval.
    var shares: [Double] = []

    /// Mean by `gsl_stats_mean`, population standard deviation by
    /// `gsl_stats_sd_with_fixed_mean` (divisor E), Gini by ``Statistics/gini(_:)``.
    init(_ counts: [Double]) {
        let e = counts.count
        guard e > 0 else { return }
        counts.withUnsafeBufferPointer { c in
            mean = gsl_stats_mean(c.baseAddress, 1, e)
            guard mean > 0 else { return }
            let sd = gsl_stats_sd_with_fixed_mean(c.baseAddress, 1, e, mean)
            cv = sd / mean
            maxVio = (gsl_stats_max(c.baseAddress, 1, e) - mean) / mean
        }
        gini = Statistics.gini(counts) ?? .nan
        cvSquaredUnbiased = Statistics.unbiasedCVSquared(counts) ?? .nan
        let total = counts.reduce(0, +)
        if total > 0 { shares = counts.map { $0 / total } }
    }
}

/// The bootstrapped numbers of one scope.
struct Headline {
    var cv = Double.nan
    var gini = Double.nan
    var maxVio = Double.nan
    var mutualInformation = Double.nan
    var cramersV = Double.nan
    var meanExpertsPerToken = Double.nan
    var cvSquaredUnbiased = Double.nan
    /// Miller–Madow MI and Bergsma's Ṽ², not clamped at 0.
    var mutualInformationCorrected = Double.nan
    var cramersVSquaredCorrected = Double.nan
    /// The load shares behind MaxVio (``LoadSummary/shares``).
    var shares: [Double] = []
}

/// Turns per-layer class × pattern tables into the per-expert counts and class ×
/// expert tables of every layer and of all layers (class × (layer, expert)), and
/// from those the headline numbers.
struct ScopeTables {
    let expertCount: Int
    let classCount: Int
    let layerCount: Int
    /// Per layer: experts of each pattern (CSR).
    let patternOffsets: [[Int32]]
    let patternMembers: [[Int32]]
    /// Per layer: pattern count.
    let patternCounts: [Int]

    /// Tables over each layer's routing patterns.
    init(reductions: [LayerReduction], expertCount: Int, classCount: Int) {
        self.init(offsets: reductions.map(\.members.offsets), members: reductions.map(\.members.experts),
                  expertCount: expertCount, classCount: classCount)
    }

    /// Tables whose columns are the experts themselves, for `layerCount` layers.
    init(identityFor layerCount: Int, expertCount: Int, classCount: Int) {
        let offsets = (0...expertCount).map { Int32($0) }, members = (0..<expertCount).map { Int32($0) }
        self.init(offsets: [[Int32]](repeating: offsets, count: layerCount),
                  members: [[Int32]](repeating: members, count: layerCount),
                  expertCount: expertCount, classCount: classCount)
    }

    private init(offsets: [[Int32]], members: [[Int32]], expertCount: Int, classCount: Int) {
        self.expertCount = expertCount
        self.classCount = classCount
        layerCount = offsets.count
        patternOffsets = offsets
        patternMembers = members
        patternCounts = offsets.map { $0.count - 1 }
    }

    /// The class × slot table (row-major `classCount × (L·E)`, slot = layer · E + expert)
    /// and the number of assignments per layer, from per-layer class × pattern tables.
    func classSlotTable(_ tables: [[Double]]) -> (table: [Double], assignments: [Double]) {
        let e = expertCount, slots = layerCount * e
        var out = [Double](repeating: 0, count: classCount * slots)
        var assignments = [Double](repeating: 0, count: layerCount)
        out.withUnsafeMutableBufferPointer { o in
            for l in 0..<layerCount {
                let p = patternCounts[l]
                var a = 0.0
                tables[l].withUnsafeBufferPointer { tb in
                patternOffsets[l].withUnsafeBufferPointer { off in
                patternMembers[l].withUnsafeBufferPointer { mem in
                    for c in 0..<classCount {
                        let row = o.baseAddress! + c * slots + l * e
                        for q in 0..<p {
                            let v = tb[c * p + q]
                            if v == 0 { continue }
                            for j in Int(off[q])..<Int(off[q + 1]) {
                                row[Int(mem[j])] += v
                                a += v
                            }
                        }
                    }
                }}}
                assignments[l] = a
            }
        }
        return (out, assignments)
    }

    /// Per-expert counts of layer `l` (or all L·E slots when `l` is nil).
    func expertCounts(_ classSlot: [Double], layer l: Int?) -> [Double] {
        let e = expertCount, slots = layerCount * e
        let first = l.map { $0 * e } ?? 0, width = l == nil ? slots : e
        var counts = [Double](repeating: 0, count: width)
        for c in 0..<classCount {
            for s in 0..<width { counts[s] += classSlot[c * slots + first + s] }
        }
        return counts
    }

    /// The class × expert block of layer `l` (or the whole class × slot table).
    func classExpert(_ classSlot: [Double], layer l: Int?) -> [Double] {
        guard let l else { return classSlot }
        let e = expertCount, slots = layerCount * e
        var out = [Double](repeating: 0, count: classCount * e)
        for c in 0..<classCount {
            for s in 0..<e { out[c * e + s] = classSlot[c * slots + l * e + s] }
        }
        return out
    }

    /// The headline numbers of every layer and, last, of all layers.
    /// `mutualInformation` only: skip the load numbers (for the permutation test).
    func headlines(_ tables: [[Double]], tokens: Double, withAffinity: Bool,
                   mutualInformationOnly: Bool = false) -> [Headline] {
        let (classSlot, assignments) = classSlotTable(tables)
        var out: [Headline] = []
        for scope in 0...layerCount {
            // One layer: all layers is that layer (the same table, the same numbers).
            if scope == 1 && layerCount == 1 {
                out.append(out[0])
                continue
            }
            let l: Int? = scope < layerCount ? scope : nil
            var h = Headline()
            if !mutualInformationOnly {
                let load = LoadSummary(expertCounts(classSlot, layer: l))
                h.cv = load.cv
                h.gini = load.gini
                h.maxVio = load.maxVio
                h.shares = load.shares
                h.cvSquaredUnbiased = load.cvSquaredUnbiased
                let a = l.map { assignments[$0] } ?? assignments.reduce(0, +)
                h.meanExpertsPerToken = a / (tokens * Double(l == nil ? layerCount : 1))
            }
            if withAffinity {
                let width = l == nil ? layerCount * expertCount : expertCount
                let table = Statistics.contingency(flat: classExpert(classSlot, layer: l), rows: classCount,
                                                   columns: width)
                h.mutualInformation = table.mutualInformationBits ?? .nan
                h.cramersV = table.cramersV ?? .nan
                h.mutualInformationCorrected = table.unclampedMutualInformationBits ?? .nan
                h.cramersVSquaredCorrected = table.unclampedCramersVSquared ?? .nan
            }
            out.append(h)
        }
        return out
    }
}
