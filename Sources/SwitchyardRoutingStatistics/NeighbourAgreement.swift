import CGSL

/// How often neighbouring tokens take the same first expert in one layer: the "consecutive
/// tokens" statistic of Mixtral (Jiang et al. 2024, "Mixtral of Experts", §5, arXiv 2401.04088),
/// with the image analogue of routers-next B6: the 4-neighbours of the patch grid (each patch
/// with its right and lower neighbour; the class token left out). A trace is read as images when
/// its positions restart at the same value and each run has one label; otherwise as sequences,
/// whose neighbours are consecutive tokens of each routing group (every position counts).
///
/// `agreement` = share of neighbour pairs, both with an expert, whose first experts (largest
/// combine weight) are equal. Two baselines: `chance` = Σ_e f_e², the agreement of independent
/// draws from the layer's own first-expert shares f over the paired tokens (Mixtral's 1/E when
/// the load is uniform), and the within-unit permutation null — the first experts shuffled among
/// the paired tokens of each image (or sequence), which keeps what each image routes where and
/// breaks only which patch sits next to which: `permutationMean` its mean, `permutationP` =
/// (1 + #{agreement* ≥ agreement})/(1 + B). Units are exchangeable under that null whatever the
/// labels, so the test is exact (Good 2005, §3). When B permutations of every unit would cost
/// more than a work budget (pairs plus paired tokens, times B), the test runs on a uniform random
/// subset of whole units (seeded): conditional on the subset it is still exact, and
/// `permutationUnits`, `permutationAgreement` say which units and what they agree.
public struct NeighbourAgreement: Codable, Sendable, Equatable {
    /// The layer's block number.
    public var layer: Int
    /// "patch grid 7×7", "consecutive patches" (images without a square grid), "consecutive tokens
    /// of each routing group" or "consecutive tokens" (sequences).
    public var neighbours: String
    /// Neighbour pairs in which both tokens have an expert.
    public var pairs: Int
    /// Share of those pairs with the same first expert.
    @Nullable public var agreement: Double?
    /// Σ_e f_e² over the paired tokens' first experts.
    @Nullable public var chance: Double?
    /// Mean agreement under the within-unit permutation.
    @Nullable public var permutationMean: Double?
    /// The permutation test's p (one-sided: agreement above the null), nil without permutations.
    @Nullable public var permutationP: Double?
    /// Permutations drawn.
    public var permutations: Int
    /// Units (images or sequences) with a pair.
    public var units = 0
    /// With a subset: the units the permutation test used, and their own agreement, which its
    /// `permutationMean` and `permutationP` are about; nil when the test used every unit.
    @Nullable public var permutationUnits: Int?
    @Nullable public var permutationAgreement: Double?

    enum CodingKeys: String, CodingKey {
        case layer, neighbours, pairs, agreement, chance, permutations, units
        case permutationMean = "permutation_mean", permutationP = "permutation_p"
        case permutationUnits = "permutation_units", permutationAgreement = "permutation_agreement"
    }
}

/// The neighbour pairs of a trace (token indices) and the units they are permuted within.
struct NeighbourPairs {
    var first: [Int32] = []
    var second: [Int32] = []
    /// For each unit, the tokens that take part in a pair, and where its pairs start in
    /// `first` and `second` (one entry per unit, plus the end).
    var members: [[Int32]] = []
    var pairStarts: [Int] = [0]
    var description = "consecutive tokens"

    /// Grid neighbours when every unit's positions 1…P form a square grid (P = g²), else
    /// consecutive tokens of each unit.
    /// `patches`: the largest position of the whole trace (nil: of `positions`), when `positions`
    /// hold a chunk of it.
    init(positions: [Int32]?, unitStarts: [Int32], patches largest: Int? = nil) {
        let units = unitStarts.count - 1
        let patches = largest ?? positions.map { Int($0.max() ?? 0) } ?? 0
        let side = Int(Double(patches).squareRoot().rounded())
        let grid = positions != nil && patches >= 4 && side * side == patches
        if grid { description = "patch grid \(side)×\(side)" }
        var tokenAt = [Int32](repeating: -1, count: patches + 1)
        var inUnit: [Bool] = []   // whether each token of the unit is in a pair
        for u in 0..<units {
            let start = Int(unitStarts[u]), end = Int(unitStarts[u + 1])
            inUnit.removeAll(keepingCapacity: true)
            inUnit.append(contentsOf: repeatElement(false, count: end - start))
            func pair(_ a: Int32, _ b: Int32) {
                first.append(a)
                second.append(b)
                inUnit[Int(a) - start] = true
                inUnit[Int(b) - start] = true
            }
            if grid, let positions {
                for i in tokenAt.indices { tokenAt[i] = -1 }
                for t in start..<end where positions[t] >= 1 { tokenAt[Int(positions[t])] = Int32(t) }
                for p in 1...patches where tokenAt[p] >= 0 {
                    let row = (p - 1) / side, column = (p - 1) % side
                    if column + 1 < side, tokenAt[p + 1] >= 0 { pair(tokenAt[p], tokenAt[p + 1]) }
                    if row + 1 < side, tokenAt[p + side] >= 0 { pair(tokenAt[p], tokenAt[p + side]) }
                }
            } else {
                let skipsClassToken = positions != nil
                for t in start..<(end - 1) where !(skipsClassToken && positions![t] == 0) {
                    pair(Int32(t), Int32(t + 1))
                }
            }
            members.append(inUnit.indices.compactMap { inUnit[$0] ? Int32(start + $0) : nil })
            pairStarts.append(first.count)
        }
        if !grid && positions != nil { description = "consecutive patches" }
    }
}

/// The agreement of `top1` (each token's first expert, −1 for none) over `pairs`, with its
/// baselines and a permutation test of `permutations` draws, on a subset of units when every
/// unit would take more than `budget` (pairs plus paired tokens, summed over the permutations).
func neighbourAgreement(layer: Int, top1: [Int32], pairs: NeighbourPairs, experts e: Int,
                        permutations: Int, seed: UInt64, budget: Int = 1 << 24) -> NeighbourAgreement {
    func agreement(_ x: UnsafeBufferPointer<Int32>, units: [Int]) -> (same: Int, pairs: Int) {
        var same = 0, counted = 0
        for u in units {
            for i in pairs.pairStarts[u]..<pairs.pairStarts[u + 1] {
                let a = x[Int(pairs.first[i])], b = x[Int(pairs.second[i])]
                guard a >= 0 && b >= 0 else { continue }
                counted += 1
                if a == b { same += 1 }
            }
        }
        return (same, counted)
    }
    let everyUnit = Array(pairs.members.indices)
    var tally = NeighbourTally(experts: e)
    tally.add(pairs, top1: top1)
    var result = tally.result(layer: layer, neighbours: pairs.description)
    guard let share = result.agreement, permutations > 0 else { return result }
    let rng = GSLRandom(seed: seed, stream: 11)
    // The units tested: all of them, or a random subset within the budget.
    func cost(_ u: Int) -> Int { (pairs.pairStarts[u + 1] - pairs.pairStarts[u]) + pairs.members[u].count }
    var tested = everyUnit.filter { cost($0) > 0 }
    var testedAgreement = share
    if let subsetUnits = unitSubset(tested, cost: cost, permutations: permutations, budget: budget, rng: rng) {
        tested = subsetUnits
        let subset = top1.withUnsafeBufferPointer { agreement($0, units: tested) }
        guard subset.pairs > 0 else { return result }
        testedAgreement = Double(subset.same) / Double(subset.pairs)
        result.permutationUnits = tested.count
        result.permutationAgreement = testedAgreement
    }
    var shuffled = top1
    var buffer: [Int32] = []
    var atLeast = 0, total = 0.0
    for _ in 0..<permutations {
        for unit in tested.lazy.map({ pairs.members[$0] }) where unit.count > 1 {
            buffer.removeAll(keepingCapacity: true)
            for t in unit { buffer.append(top1[Int(t)]) }
            buffer.withUnsafeMutableBufferPointer {
                gsl_ran_shuffle(rng.pointer, $0.baseAddress, $0.count, MemoryLayout<Int32>.stride)
            }
            for (i, t) in unit.enumerated() { shuffled[Int(t)] = buffer[i] }
        }
        let replicate = shuffled.withUnsafeBufferPointer { agreement($0, units: tested) }
        let value = Double(replicate.same) / Double(max(replicate.pairs, 1))
        total += value
        if value >= testedAgreement - 1e-12 { atLeast += 1 }
    }
    result.permutations = permutations
    result.permutationMean = total / Double(permutations)
    result.permutationP = Double(1 + atLeast) / Double(1 + permutations)
    return result
}
