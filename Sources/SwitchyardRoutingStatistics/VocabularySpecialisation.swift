import CGSL

/// How much a token's id decides its expert in one layer: vocabulary specialisation
/// (routers-next B4; OLMoE, Muennighoff et al. 2024, §5, and allenai/OLMoE
/// `scripts/run_moe_analysis.py`). For each label (token id) seen at least
/// ``minimumOccurrences`` times with a first expert, the share of its occurrences routed to its
/// most frequent first expert, max_e N(id, e) / N(id); `specialisation` is the mean over those
/// ids, each id counted once. 1 = every id always goes to one expert.
///
/// The value depends on N(id) and on the load (a skewed layer sends most ids to its busiest
/// expert), so the baseline is a permutation null: the first experts shuffled among the tokens of
/// each unit (routing group, i.e. sequence, or a block of 1,024 consecutive tokens without
/// groups), which keeps every unit's routing and every token's id and breaks only which id goes
/// where. `permutationMean` is the null's mean, `permutationP` = (1 + #{S* ≥ S})/(1 + B),
/// one-sided, exact (Good 2005, §3). Beyond a work budget the test runs on a random subset of
/// whole units, exact conditional on it (`permutationUnits`, `permutationSpecialisation`).
public struct VocabularySpecialisation: Codable, Sendable, Equatable {
    /// Occurrences an id needs to count (OLMoE's analysis uses 10).
    public static let minimumOccurrences = 10

    /// The layer's block number.
    public var layer: Int
    /// Ids seen at least ``minimumOccurrences`` times, and their tokens.
    public var ids: Int
    public var tokens: Int
    /// Mean over those ids of the share of the most frequent first expert.
    @Nullable public var specialisation: Double?
    /// The within-unit permutation null: its mean and the one-sided p.
    @Nullable public var permutationMean: Double?
    @Nullable public var permutationP: Double?
    public var permutations: Int
    /// What units the shuffles stay within.
    public var units: String
    /// With a subset: its units and its own specialisation, which the test is about.
    @Nullable public var permutationUnits: Int?
    @Nullable public var permutationSpecialisation: Double?

    enum CodingKeys: String, CodingKey {
        case layer, ids, tokens, specialisation, permutations, units
        case permutationMean = "permutation_mean", permutationP = "permutation_p"
        case permutationUnits = "permutation_units", permutationSpecialisation = "permutation_specialisation"
    }

    /// The observed statistic (``VocabularyCounts/take()``), before any permutation.
    init(layer: Int, units: String, observed: (value: Double?, ids: Int, tokens: Int)) {
        self.layer = layer
        ids = observed.ids
        tokens = observed.tokens
        specialisation = observed.value
        permutationMean = nil
        permutationP = nil
        permutations = 0
        self.units = units
        permutationUnits = nil
        permutationSpecialisation = nil
    }
}

/// The specialisation of `top1` (first experts, −1 for none) by `labels`, with units given by
/// `unitStarts` (ascending token starts plus the end).
func vocabularySpecialisation(layer: Int, top1: [Int32], labels: [Int32], classCount: Int, experts e: Int,
                              unitStarts: [Int32], unitName: String, permutations: Int, seed: UInt64,
                              budget: Int = 1 << 24) -> VocabularySpecialisation {
    let units = unitStarts.count - 1
    let allUnits = Array(0..<units)
    var counts = VocabularyCounts(classCount: classCount, experts: e)
    // The statistic over the tokens of `chosen` units, with experts `x`.
    func measure(_ x: [Int32], _ chosen: [Int]) -> (value: Double?, ids: Int, tokens: Int) {
        for u in chosen { counts.add(x, labels, Int(unitStarts[u])..<Int(unitStarts[u + 1])) }
        return counts.take()
    }
    let observed = measure(top1, allUnits)
    var result = VocabularySpecialisation(layer: layer, units: unitName, observed: observed)
    guard let value = observed.value, permutations > 0 else { return result }

    let rng = GSLRandom(seed: seed, stream: 12)
    func size(_ u: Int) -> Int { Int(unitStarts[u + 1] - unitStarts[u]) }
    var tested = allUnits.filter { size($0) > 0 }
    var testedValue = value
    if let subsetUnits = unitSubset(tested, cost: size, permutations: permutations, budget: budget, rng: rng) {
        tested = subsetUnits
        guard let subset = measure(top1, tested).value else { return result }
        testedValue = subset
        result.permutationUnits = tested.count
        result.permutationSpecialisation = subset
    }
    var shuffled = top1
    var atLeast = 0, total = 0.0
    for _ in 0..<permutations {
        for u in tested where size(u) > 1 {
            shuffled.withUnsafeMutableBufferPointer {
                gsl_ran_shuffle(rng.pointer, $0.baseAddress! + Int(unitStarts[u]), size(u), MemoryLayout<Int32>.stride)
            }
        }
        let replicate = measure(shuffled, tested).value ?? 0
        total += replicate
        if replicate >= testedValue - 1e-12 { atLeast += 1 }
    }
    result.permutations = permutations
    result.permutationMean = total / Double(permutations)
    result.permutationP = Double(1 + atLeast) / Double(1 + permutations)
    return result
}

/// The counts behind ``VocabularySpecialisation``: first experts by id, added a range of tokens
/// at a time, with the ids in order of first appearance (the order their shares are summed in).
struct VocabularyCounts {
    let e: Int
    private var counts: [Int32]
    private var occurrences: [Int32]
    private var touched: [Int] = []

    init(classCount: Int, experts e: Int) {
        self.e = e
        counts = [Int32](repeating: 0, count: classCount * e)
        occurrences = [Int32](repeating: 0, count: classCount)
    }

    /// Counts the tokens `range` of `x` (first experts) and `labels` (ids), both indexed by token.
    mutating func add(_ x: [Int32], _ labels: [Int32], _ range: Range<Int>) {
        for t in range where x[t] >= 0 && labels[t] >= 0 {
            let id = Int(labels[t])
            if occurrences[id] == 0 { touched.append(id) }
            occurrences[id] += 1
            counts[id * e + Int(x[t])] += 1
        }
    }

    /// The mean share of each id's most frequent first expert over the ids seen at least
    /// ``VocabularySpecialisation/minimumOccurrences`` times, those ids and their tokens; the
    /// counts start again from zero.
    mutating func take() -> (value: Double?, ids: Int, tokens: Int) {
        var sum = 0.0, ids = 0, tokens = 0
        for id in touched {
            let n = Int(occurrences[id])
            if n >= VocabularySpecialisation.minimumOccurrences {
                var best: Int32 = 0
                for j in 0..<e { best = max(best, counts[id * e + j]) }
                sum += Double(best) / Double(n)
                ids += 1
                tokens += n
            }
            occurrences[id] = 0
            for j in 0..<e { counts[id * e + j] = 0 }
        }
        touched.removeAll(keepingCapacity: true)
        return (ids > 0 ? sum / Double(ids) : nil, ids, tokens)
    }
}
