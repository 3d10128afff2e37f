import CGSL

/// The units a permutation test uses when all of them would cost more than `budget`: the
/// candidates in a random order (`rng`), taken while `permutations` times their summed cost
/// stays within the budget (at least one), returned in ascending order; nil when every
/// candidate fits. Conditional on the subset the test stays exact (docs/statistics.md).
func unitSubset(_ candidates: [Int], cost: (Int) -> Int, permutations: Int, budget: Int, rng: GSLRandom) -> [Int]? {
    guard candidates.reduce(0, { $0 + cost($1) }) * permutations > budget else { return nil }
    var order = candidates
    order.withUnsafeMutableBufferPointer { gsl_ran_shuffle(rng.pointer, $0.baseAddress, $0.count, MemoryLayout<Int>.stride) }
    var spent = 0, kept = 0
    while kept < order.count && (kept == 0 || (spent + cost(order[kept])) * permutations <= budget) {
        spent += cost(order[kept])
        kept += 1
    }
    return order[..<kept].sorted()
}
