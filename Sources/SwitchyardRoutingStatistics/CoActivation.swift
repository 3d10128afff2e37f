import SwitchyardTraces

/// Which experts are chosen together in one layer, for routers that send a token to several
/// experts (routers-next B2; OLMoE, Muennighoff et al. 2024, §5 and allenai/OLMoE
/// `scripts/run_moe_analysis.py`): N_i tokens take expert i, N_ij take both i and j, and
/// Coact(i, j) = N_ij / N_i, the share of i's tokens that j also takes. Every pair of a token's
/// experts counts (OLMoE's script counts only adjacent pairs of the ranked top-k).
///
/// Baseline: a token with k experts drawn uniformly without replacement takes j beside i with
/// probability (k − 1)/(E − 1), so `ratio(i, j)` = Coact(i, j) / ((k̄ᵢ − 1)/(E − 1)), k̄ᵢ the mean
/// experts per token of i's tokens: 1 where i's partners are random, above 1 for pairs that go
/// together, below 1 for pairs that avoid each other. Descriptive: the ratio has no test here.
public struct CoActivation: Codable, Sendable, Equatable {
    /// The layer's block number.
    public var layer: Int
    /// Tokens with two or more experts.
    public var tokens: Int
    /// Coact(i, j) = N_ij / N_i, row i, E × E (the diagonal 0; rows of unused experts 0).
    public var coactivation: [[Double]]
    /// Coact(i, j) over its uniform baseline (0 where N_i = 0).
    public var ratio: [[Double]]
    /// The largest and smallest ratio over pairs i ≠ j whose N_i ≥ 10, nil when none.
    @Nullable public var maxRatio: Double?
    @Nullable public var minRatio: Double?
    /// The pairs (i, j) of ``maxRatio`` and ``minRatio``.
    public var maxPair: [Int]
    public var minPair: [Int]

    enum CodingKeys: String, CodingKey {
        case layer, tokens, coactivation, ratio, maxPair = "max_pair", minPair = "min_pair"
        case maxRatio = "max_ratio", minRatio = "min_ratio"
    }
}

/// The co-activation of one layer, nil when no token has two experts.
func coActivation(_ routing: LayerRouting, experts e: Int) -> CoActivation? {
    var counts = CoActivationCounts(experts: e)
    counts.add(routing)
    return counts.result(layer: routing.layer)
}

/// The counts behind ``CoActivation``, added a range of tokens at a time (the one-pass analysis
/// adds chunks).
struct CoActivationCounts {
    let e: Int
    var pairCounts: [Double]
    var takes: [Double]
    var partnersOf: [Double]   // Σ over i's tokens of (k − 1)
    var tokens = 0
    private var seen: [Bool]
    private var distinct: [Int] = []

    init(experts e: Int) {
        self.e = e
        pairCounts = [Double](repeating: 0, count: e * e)
        takes = [Double](repeating: 0, count: e)
        partnersOf = takes
        seen = [Bool](repeating: false, count: e)
    }

    mutating func add(_ routing: LayerRouting) {
        let e = e
        var tokens = 0
        routing.offsets.withUnsafeBufferPointer { off in
        routing.experts.withUnsafeBufferPointer { ex in
        pairCounts.withUnsafeMutableBufferPointer { pc in
        takes.withUnsafeMutableBufferPointer { tk in
        partnersOf.withUnsafeMutableBufferPointer { po in
        seen.withUnsafeMutableBufferPointer { sn in
            for t in 0..<(off.count - 1) {
                distinct.removeAll(keepingCapacity: true)
                for a in Int(off[t])..<Int(off[t + 1]) {
                    let x = Int(ex[a])
                    if !sn[x] { sn[x] = true; distinct.append(x) }
                }
                for x in distinct { sn[x] = false }
                let k = distinct.count
                for x in distinct {
                    tk[x] += 1
                    po[x] += Double(k - 1)
                }
                guard k >= 2 else { continue }
                tokens += 1
                for x in distinct { for y in distinct where y != x { pc[x * e + y] += 1 } }
            }
        }}}}}}
        self.tokens += tokens
    }

    func result(layer: Int) -> CoActivation? {
        guard tokens > 0, e > 1 else { return nil }
        var coactivation = [[Double]](repeating: [Double](repeating: 0, count: e), count: e)
        var ratio = coactivation
        var best: (Double, [Int])? = nil, worst: (Double, [Int])? = nil
        for i in 0..<e where takes[i] > 0 {
            let baseline = partnersOf[i] / takes[i] / Double(e - 1)
            for j in 0..<e where j != i {
                let c = pairCounts[i * e + j] / takes[i]
                coactivation[i][j] = c
                ratio[i][j] = baseline > 0 ? c / baseline : 0
                guard takes[i] >= 10, baseline > 0 else { continue }
                if best == nil || ratio[i][j] > best!.0 { best = (ratio[i][j], [i, j]) }
                if worst == nil || ratio[i][j] < worst!.0 { worst = (ratio[i][j], [i, j]) }
            }
        }
        return CoActivation(layer: layer, tokens: tokens, coactivation: coactivation, ratio: ratio,
                            maxRatio: best?.0, minRatio: worst?.0, maxPair: best?.1 ?? [], minPair: worst?.1 ?? [])
    }
}
