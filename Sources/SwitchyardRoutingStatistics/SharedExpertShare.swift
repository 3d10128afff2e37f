import CGSL
import SwitchyardTraces

/// What the always-on shared experts take of a token's combine weight in one layer (shared-expert
/// isolation, DeepSeekMoE, Dai et al. 2024; Qwen2-MoE's sigmoid-gated shared expert). A token's
/// output is Σ_routed w_i·E_i(x) + s·E_shared(x), s = the number of shared experts when they are
/// added as they are (gate "none": DeepSeek) or the token's gate sigmoid(w_s·x) (gate "sigmoid",
/// one shared expert, the trace's ``LayerRouting/sharedGate``). `sharedShare` is the mean over
/// tokens of s / (s + Σ w_i), tokens with s + Σ w_i = 0 left out; with a gate, its mean and
/// quartiles (type-7 quantiles, as numpy's default) describe how much the layer leans on the
/// shared expert.
public struct SharedExpertShare: Codable, Sendable, Equatable {
    /// The layer's block number.
    public var layer: Int
    /// Shared experts per layer, and how they are weighted ("none" or "sigmoid").
    public var sharedExperts: Int
    public var gate: String
    /// Mean over tokens of the routed experts' combine weights summed.
    public var meanRoutedWeight: Double
    /// The sigmoid gate's mean and quartiles, when the trace records it.
    @Nullable public var meanGate: Double?
    @Nullable public var gateQuartiles: [Double]?
    /// Mean over tokens of the shared experts' share of the combine weight; nil for a gated
    /// shared expert whose gates the trace does not hold.
    @Nullable public var sharedShare: Double?

    enum CodingKeys: String, CodingKey {
        case layer, gate
        case sharedExperts = "shared_experts", meanRoutedWeight = "mean_routed_weight", meanGate = "mean_gate"
        case gateQuartiles = "gate_quartiles", sharedShare = "shared_share"
    }
}

/// The shared-expert share of every layer, nil when the trace's metadata names no shared expert.
func sharedExpertShares(_ trace: RoutingTrace) -> [SharedExpertShare]? {
    guard let (count, gate) = sharedExperts(trace.metadata) else { return nil }
    let n = trace.tokenCount
    return trace.layers.map { layer in
        var tally = SharedShareTally(sharedExperts: count, gate: gate)
        tally.add(layer)
        var result = tally.result(layer: layer.layer)
        if gate != "none", count == 1, var sorted = layer.sharedGate.map({ $0.map(Double.init) }) {
            sorted.withUnsafeMutableBufferPointer { gsl_sort($0.baseAddress, 1, n) }
            result.gateQuartiles = [0.25, 0.5, 0.75].map { q in
                sorted.withUnsafeBufferPointer { gsl_stats_quantile_from_sorted_data($0.baseAddress, 1, n, q) }
            }
        }
        return result
    }
}

/// The shared experts a trace's metadata names: their count and gate, nil for none.
func sharedExperts(_ metadata: [String: String]) -> (count: Int, gate: String)? {
    guard let count = metadata[RoutingTrace.sharedExpertCountKey].flatMap(Int.init), count > 0 else { return nil }
    return (count, metadata[RoutingTrace.sharedExpertGateKey] ?? "none")
}

/// The sums behind ``SharedExpertShare`` (all but the gate's quartiles), added a range of tokens at
/// a time in token order.
struct SharedShareTally {
    let sharedExperts: Int
    let gate: String
    var tokens = 0
    var routedSum = 0.0
    /// Σ gate; Σ s / (s + Σ w) and the tokens in it; nil once a range lacks the gates it needs.
    var gateSum: Double? = 0
    var shareSum: Double? = 0
    var shareTokens = 0

    init(sharedExperts: Int, gate: String) {
        self.sharedExperts = sharedExperts
        self.gate = gate
    }

    mutating func add(_ layer: LayerRouting) {
        let n = layer.offsets.count - 1
        tokens += n
        var routed = [Double](repeating: 0, count: n)
        for t in 0..<n {
            for j in Int(layer.offsets[t])..<Int(layer.offsets[t + 1]) { routed[t] += Double(layer.weights[j]) }
        }
        for r in routed { routedSum += r }
        let gates: [Double]? = gate == "none" ? [Double](repeating: Double(sharedExperts), count: n)
            : sharedExperts == 1 ? layer.sharedGate.map { $0.map(Double.init) } : nil
        if gate != "none", let gates, let sum = gateSum { gateSum = gates.reduce(sum, +) } else { gateSum = nil }
        guard let gates, var sum = shareSum else { shareSum = nil; return }
        for t in 0..<n where gates[t] + routed[t] > 0 {
            sum += gates[t] / (gates[t] + routed[t])
            shareTokens += 1
        }
        shareSum = sum
    }

    /// The layer's share, without the gate's quartiles.
    func result(layer: Int) -> SharedExpertShare {
        var result = SharedExpertShare(layer: layer, sharedExperts: sharedExperts, gate: gate,
                                       meanRoutedWeight: routedSum / Double(tokens))
        result.meanGate = gateSum.map { $0 / Double(tokens) }
        result.sharedShare = shareSum.flatMap { shareTokens > 0 ? $0 / Double(shareTokens) : nil }
        return result
    }
}
