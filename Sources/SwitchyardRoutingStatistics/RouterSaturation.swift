import SwitchyardFileIO
import SwitchyardTraces

/// How far a checkpoint's routing already is the final one's: router saturation (routers-next
/// B1; OLMoE, Muennighoff et al. 2024, §5, and allenai/OLMoE `scripts/run_moe_analysis.py`).
/// On the same tokens, per layer, the mean over tokens of |S_c ∩ S_f| / |S_f|, S_c and S_f a
/// token's experts at the checkpoint and at the final one (tokens with an expert at the final
/// one); OLMoE's |top-k ∩ top-k_final| / k when every token has k experts. Baseline: checkpoint
/// experts drawn at random, |S_c|/E on average (k/E for top-k).
public struct RouterSaturation: Codable, Sendable, Equatable {
    public struct Layer: Codable, Sendable, Equatable {
        /// The layer's block number.
        public var layer: Int
        /// Tokens with an expert in the final trace.
        public var tokens: Int
        @Nullable public var saturation: Double?
        /// The mean of |S_c|/E over those tokens.
        @Nullable public var baseline: Double?
    }

    /// The checkpoint's label (an epoch, or its source).
    public var checkpoint: String
    public var layers: [Layer]
    /// Over all layers: the tokens' overlaps and baselines pooled.
    @Nullable public var saturation: Double?
    @Nullable public var baseline: Double?
}

/// The saturation of `checkpoint`'s routing against `final`'s: the same tokens, layers (block
/// numbers) and expert count, else an error naming the checkpoint.
public func routerSaturation(_ checkpoint: RoutingTrace, against final: RoutingTrace, label: String,
                             source: String? = nil) throws -> RouterSaturation {
    func mismatch(_ what: String, _ a: Any, _ b: Any) -> InputError {
        InputError(file: source, location: "header", message: "\(what) is \(a), but \(b) in the final trace; saturation compares the same tokens and layers")
    }
    guard checkpoint.tokenCount == final.tokenCount else { throw mismatch("token count", checkpoint.tokenCount, final.tokenCount) }
    guard checkpoint.expertCount == final.expertCount else { throw mismatch("expert count", checkpoint.expertCount, final.expertCount) }
    let blocks = checkpoint.layers.map(\.layer), finalBlocks = final.layers.map(\.layer)
    guard blocks == finalBlocks else { throw mismatch("layers", blocks, finalBlocks) }
    let e = final.expertCount
    var layers: [RouterSaturation.Layer] = []
    var overlapSum = 0.0, baselineSum = 0.0, allTokens = 0
    var inFinal = [Bool](repeating: false, count: e)
    for (c, f) in zip(checkpoint.layers, final.layers) {
        var overlap = 0.0, baseline = 0.0, tokens = 0
        for t in 0..<final.tokenCount {
            let fs = Int(f.offsets[t])..<Int(f.offsets[t + 1]), cs = Int(c.offsets[t])..<Int(c.offsets[t + 1])
            guard !fs.isEmpty else { continue }
            for j in fs { inFinal[Int(f.experts[j])] = true }
            var shared = 0
            for j in cs where inFinal[Int(c.experts[j])] { shared += 1 }
            for j in fs { inFinal[Int(f.experts[j])] = false }
            overlap += Double(shared) / Double(fs.count)
            baseline += Double(cs.count) / Double(e)
            tokens += 1
        }
        layers.append(RouterSaturation.Layer(layer: f.layer, tokens: tokens,
                                             saturation: tokens > 0 ? overlap / Double(tokens) : nil,
                                             baseline: tokens > 0 ? baseline / Double(tokens) : nil))
        overlapSum += overlap
        baselineSum += baseline
        allTokens += tokens
    }
    return RouterSaturation(checkpoint: label, layers: layers,
                            saturation: allTokens > 0 ? overlapSum / Double(allTokens) : nil,
                            baseline: allTokens > 0 ? baselineSum / Double(allTokens) : nil)
}
