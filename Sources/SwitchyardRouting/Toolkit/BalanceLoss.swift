import SwitchyardTensorCore

/// The load-balancing loss of Switch Transformers (Fedus et al. 2021, eq. 4), also GShard's and
/// Megatron-Core's `switch_load_balancing_loss_func`: L = α·E·Σ_e f_e·P_e, with f_e the fraction
/// of the n tokens whose first choice is e and P_e the mean router probability of e.
///
/// Convention: L/α = 1 at perfectly uniform routing (f_e = P_e = 1/E), whatever E; it grows to E
/// when every token picks one expert with certainty. (Hugging Face's Mixtral loss counts all k
/// choices and is k at uniform; DeepSpeed's is 1.) f is counted, not differentiated:
/// ∂L/∂p_te = α·E·f_e/n.
public struct BalanceLoss: Sendable {
    /// α.
    public let weight: Float
    /// First-choice counts per expert of the last forward.
    public private(set) var counts: [Int] = []

    /// A loss of weight α (0 = off).
    public init(weight: Float) { self.weight = weight }

    /// L for `n` tokens with router probabilities `p` (n × E) and first choices.
    public mutating func forward(probabilities p: UnsafePointer<Float>, firstChoice: UnsafePointer<Int32>,
                                 tokenCount n: Int, experts e: Int) -> Float {
        counts = [Int](repeating: 0, count: e)
        guard n > 0, weight != 0 else { return 0 }
        var meanProbability = [Float](repeating: 0, count: e)
        for t in 0..<n {
            counts[Int(firstChoice[t])] += 1
            let row = p + t * e
            for j in 0..<e { meanProbability[j] += row[j] }
        }
        return value(columnSums: meanProbability, tokenCount: n)
    }

    /// L from expert counts and the column sums of the probabilities computed elsewhere (as
    /// ``SoftmaxGate`` does in its pass); keeps the counts for the backward.
    public mutating func forward(counts: [Int], columnSums: [Float], tokenCount n: Int) -> Float {
        self.counts = counts
        guard n > 0, weight != 0 else { return 0 }
        return value(columnSums: columnSums, tokenCount: n)
    }

    private func value(columnSums: [Float], tokenCount n: Int) -> Float {
        var loss: Float = 0
        for j in 0..<counts.count { loss += Float(counts[j]) / Float(n) * columnSums[j] / Float(n) }
        return weight * Float(counts.count) * loss
    }

    /// `scale`·∂L/∂p_te, the same for every token: one value per expert (zeros when the loss
    /// is off).
    public func gradientPerExpert(tokenCount n: Int, experts e: Int, scale: Float) -> [Float] {
        guard n > 0, weight != 0 else { return [Float](repeating: 0, count: e) }
        return (0..<e).map { j in scale * weight * Float(e) * Float(counts[j]) / Float(n) / Float(n) }
    }

    /// Adds `scale`·∂L/∂p to `dp` (n × E), row by row.
    public func backward(tokenCount n: Int, experts e: Int, scale: Float, dProbabilities dp: UnsafeMutablePointer<Float>) {
        guard n > 0, weight != 0 else { return }
        let g = gradientPerExpert(tokenCount: n, experts: e, scale: scale)
        g.withUnsafeBufferPointer { gb in
            forEachRowBlock(n, width: e) { _, rows in
                for t in rows {
                    let row = dp + t * e
                    for j in 0..<e { row[j] += gb[j] }
                }
            }
        }
    }
}

/// The sequence-wise balance loss of DeepSeek-V3 (arXiv 2412.19437, eq. 17–20), here per image
/// (or per routing group): for each sequence of T tokens, α·Σ_i f_i·P_i with
/// f_i = E/(k·T)·#{t: i among t's k selected experts} and P_i = (1/T)·Σ_t s_ti/Σ_j s_tj, averaged
/// over the sequences. Like ``BalanceLoss`` it is α at uniform routing; f is counted, not
/// differentiated.
public struct SequenceBalanceLoss: Sendable {
    /// α (DeepSeek-V3: 1e-4).
    public let weight: Float
    private var f: [Float] = []            // sequences × E
    private var sequences: [Range<Int>] = []

    /// A loss of weight α (0 = off).
    public init(weight: Float) { self.weight = weight }

    /// L for scores `s` (n × E, non-negative: softmax or sigmoid), the experts each token
    /// selected (`selected`, n × k, −1 for none) and the sequences' token ranges.
    public mutating func forward(scores s: UnsafePointer<Float>, selected: UnsafePointer<Int32>, k: Int,
                                 experts e: Int, sequences: [Range<Int>]) -> Float {
        self.sequences = sequences
        f = [Float](repeating: 0, count: sequences.count * e)
        guard weight != 0, !sequences.isEmpty else { return 0 }
        var total: Float = 0
        for (q, range) in sequences.enumerated() where !range.isEmpty {
            let T = Float(range.count)
            var p = [Float](repeating: 0, count: e)
            for t in range {
                for j in 0..<k where selected[t * k + j] >= 0 { f[q * e + Int(selected[t * k + j])] += 1 }
                var rowSum: Float = 0
                for i in 0..<e { rowSum += s[t * e + i] }
                if rowSum > 0 { for i in 0..<e { p[i] += s[t * e + i] / rowSum } }
            }
            var loss: Float = 0
            for i in 0..<e {
                f[q * e + i] *= Float(e) / (Float(k) * T)
                loss += f[q * e + i] * p[i] / T
            }
            total += loss
        }
        return weight * total / Float(sequences.count)
    }

    /// Adds `scale`·∂L/∂s to `ds` (n × E) for the scores of the last forward.
    public func backward(scores s: UnsafePointer<Float>, experts e: Int, scale: Float, dScores ds: UnsafeMutablePointer<Float>) {
        guard weight != 0, !sequences.isEmpty else { return }
        let c = scale * weight / Float(sequences.count)
        for (q, range) in sequences.enumerated() where !range.isEmpty {
            let T = Float(range.count)
            for t in range {
                var rowSum: Float = 0, dot: Float = 0
                for i in 0..<e { rowSum += s[t * e + i] }
                guard rowSum > 0 else { continue }
                for i in 0..<e { dot += f[q * e + i] * s[t * e + i] }
                // ∂(Σ_i f_i·s_i/Σ)/∂s_j = (f_j − Σ_i f_i s_i/Σ)/Σ.
                for j in 0..<e { ds[t * e + j] += c / T * (f[q * e + j] - dot / rowSum) / rowSum }
            }
        }
    }
}

/// The router z-loss of ST-MoE (Zoph et al. 2022, eq. 5): c_z·(1/n)·Σ_t (log Σ_e exp z_te)²,
/// which keeps the logits small. ∂/∂z_te = 2·c_z·lse_t·softmax(z_t)_e/n.
public enum ZLoss {
    /// The loss from Σ_t lse_t² of `n` tokens.
    public static func value(weight: Float, squaredLogSumExpSum: Float, tokenCount n: Int) -> Float {
        n > 0 && weight > 0 ? weight * squaredLogSumExpSum / Float(n) : 0
    }

    /// The factor `scale`·2·c_z/n that multiplies lse_t·p_te in the gradient.
    public static func gradientScale(weight: Float, tokenCount n: Int, scale: Float) -> Float {
        n > 0 && weight > 0 ? 2 * weight * scale / Float(n) : 0
    }
}
