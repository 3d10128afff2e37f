import CGSL
import Foundation
import SwitchyardTraces

// The statistics of one scope (a layer, or all layers) from its tables: load, affinity,
// heterogeneity, and the top-1 table of two layers.

/// The table of two top-1 assignments over tokens that have one in both, its rows and
/// columns the experts used by either (`experts`, ascending; the same order on both axes,
/// so the diagonal is agreement). Sized by the experts used, not the largest index: one
/// token of expert 100,000 costs one row, not 10¹⁰ cells.
func top1Table(_ a: [Int32], _ b: [Int32], experts e: Int) -> (table: [Double], experts: [Int], tokens: Int) {
    var counts = Top1PairCounts(experts: e)
    counts.add(a, b)
    return counts.table()
}

/// The counts of ``top1Table(_:_:experts:)``, added a range of tokens at a time (the one-pass
/// analysis adds chunks): a dense E × E table up to 256 experts, a dictionary of the pairs seen beyond.
struct Top1PairCounts {
    let e: Int
    private var dense: [Double]
    private var sparse: [Int: Double] = [:]
    private(set) var tokens = 0

    init(experts e: Int) {
        self.e = e
        dense = e <= 256 ? [Double](repeating: 0, count: e * e) : []
    }

    mutating func add(_ a: [Int32], _ b: [Int32]) {
        let e = e, isDense = !dense.isEmpty
        for t in 0..<min(a.count, b.count) where a[t] >= 0 && b[t] >= 0 {
            let cell = Int(a[t]) * e + Int(b[t])
            if isDense { dense[cell] += 1 } else { sparse[cell, default: 0] += 1 }
            tokens += 1
        }
    }

    /// The table over the experts used by either layer, as ``top1Table(_:_:experts:)`` gives it.
    func table() -> (table: [Double], experts: [Int], tokens: Int) {
        let cells: [(Int, Double)] = dense.isEmpty ? Array(sparse) : dense.indices.compactMap { dense[$0] > 0 ? ($0, dense[$0]) : nil }
        var index = [Int32](repeating: -1, count: e)
        for (cell, _) in cells {
            index[cell / e] = 0
            index[cell % e] = 0
        }
        var used: [Int] = []
        for x in 0..<e where index[x] == 0 {
            index[x] = Int32(used.count)
            used.append(x)
        }
        let k = used.count
        var table = [Double](repeating: 0, count: k * k)
        for (cell, count) in cells { table[Int(index[cell / e]) * k + Int(index[cell % e])] = count }
        return (table, used, tokens)
    }
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

func makeAffinity(classExpert: [Double]?, experts: Int, classNames: [String], classCount: Int,
                          permutation: ClassPermutationResult, scope: Int, permutations: Int,
                          confidence: Double?, entropy: Double?,
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
        let withRows = classExpert != nil && includeTables
        var rows = [[Double?]](repeating: [Double?](repeating: nil, count: blocks.count * e),
                               count: withRows ? classCount : 0)
        for (b, block) in blocks.enumerated() {
            for c in 0..<classCount {
                for x in 0..<e {
                    let v = block[c * e + x]
                    sums[b * e + x] += v
                    if withRows { rows[c][b * e + x] = classTokens[c] > 0 ? v / classTokens[c] : nil }
                }
            }
        }
        perExpert = sums.map { $0 / Double(tokens) }
        if withRows { byClass = rows }
    }
    var positionTable: ContingencyStatistics? = nil, positionRows: [[Int]]? = nil
    if let positionExpert, positionCount > 0 {
        positionTable = Statistics.contingency(flat: positionExpert, rows: positionCount, columns: experts)
        if includeTables {
            positionRows = (0..<positionCount).map { p in (0..<experts).map { Int(positionExpert[p * experts + $0]) } }
        }
    }
    var affinity = AffinityStatistics(
        classes: table?.rows ?? 0, classExpertCounts: classRows,
        mutualInformationBits: table?.mutualInformationBits,
        normalizedMutualInformation: table?.normalizedMutualInformation,
        classEntropyBits: table?.rowEntropyBits, expertEntropyBits: table?.columnEntropyBits,
        chi2: table?.chi2, chi2DF: table?.chi2DF, chi2P: table?.chi2P, cramersV: table?.cramersV,
        mutualInformationCorrectedBits: table?.mutualInformationCorrectedBits,
        cramersVCorrected: table?.cramersVCorrected, chi2Assumes: table == nil ? nil : "independent tokens",
        mutualInformationPermutationP: permutation.p[scope], permutations: permutations, dominantClasses: dominant,
        routerConfidence: confidence, meanRouterEntropyNats: entropy,
        meanRouterEntropyRatio: entropy.flatMap { entropyScale > 0 ? $0 / entropyScale : nil },
        meanProbabilityPerExpert: perExpert, classExpertMeanProbability: byClass,
        positionExpertCounts: positionRows, position: positionTable)
    if classExpert != nil, let units = permutation.units {
        affinity.permutationUnits = units
        affinity.permutationMutualInformationBits = permutation.observed.flatMap { finite($0[scope]) }
    }
    return affinity
}

/// Heterogeneity from `levels[v][class]` (tokens with compute v by class) and
/// `pairLevels[k]` ((token, layer) pairs with k experts).
func makeHeterogeneity(levels: [[Double]], pairLevels: [Double], pairs: Double, withClasses: Bool,
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
