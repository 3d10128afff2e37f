/// MaxVio per training batch, MaxVio_batch of Wang et al. 2024 ("Auxiliary-Loss-Free Load
/// Balancing Strategy for Mixture-of-Experts", arXiv 2408.15664, §4.1): for one batch and one MoE
/// layer, (max_e load_e − mean load)/mean load over the experts' token counts; averaged here over
/// the batches and layers given (a run's `metrics.jsonl` records every `logEvery`-th step's
/// batch). MaxVio_global is the same quantity on the loads of a whole evaluation set (`analyze`).
public enum BatchMaxVio {
    /// The mean MaxVio over `loads[step][layer][expert]`, layers without tokens left out; nil when
    /// nothing is left.
    public static func mean(_ loads: [[[Int]]]) -> Double? {
        var sum = 0.0, count = 0
        for step in loads {
            for layer in step where !layer.isEmpty {
                let total = layer.reduce(0, +)
                guard total > 0 else { continue }
                let mean = Double(total) / Double(layer.count)
                sum += (Double(layer.max()!) - mean) / mean
                count += 1
            }
        }
        return count > 0 ? sum / Double(count) : nil
    }
}
