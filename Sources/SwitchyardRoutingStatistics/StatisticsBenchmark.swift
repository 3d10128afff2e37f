import SwitchyardFileIO
import CGSL
import Foundation
import SwitchyardTraces

/// Synthetic traces and timing of ``analyze(trace:options:)``, behind
/// `switchyard bench stats`.
///
/// ```swift
/// let trace = StatisticsBenchmark.syntheticTrace(records: 10_000_000, seed: 1)
/// let result = try StatisticsBenchmark.run(trace: trace, options: AnalysisOptions())
/// print(result.markdownTable)
/// ```
public enum StatisticsBenchmark {
    /// A synthetic trace of `records` (token, layer) routing records: `records / layers`
    /// tokens in images of `tokensPerImage` tokens (positions 0…, 0 = no positions, one
    /// class label per image drawn uniformly from `classes`), routed in each layer by a
    /// softmax router whose logits are Gaussian noise plus a class- and layer-dependent
    /// preference for two experts, taking the `topK` most probable experts (weights
    /// renormalised over them). With a `capacityFactor`, each expert takes at most
    /// `⌈capacityFactor · tokens · topK / E⌉` tokens in token order and the rest of its
    /// tokens are dropped (the preferred expert is recorded). Top probabilities and router
    /// entropies are always recorded, full probabilities when `probabilities` is true.
    /// Randomness: GSL MT19937 from `seed`.
    public static func syntheticTrace(records: Int, layers: Int = 4, experts: Int = 8, topK: Int = 1,
                                      classes: Int = 10, tokensPerImage: Int = 65,
                                      capacityFactor: Double? = 1.25, probabilities: Bool = false,
                                      seed: UInt64) -> RoutingTrace {
        precondition(layers >= 1 && experts >= 1 && classes >= 1, "layers, experts and classes must be positive")
        precondition(topK >= 1 && topK <= experts, "topK must be in 1...experts")
        let n = max(1, records / layers)
        let rng = GSLRandom(seed: seed, stream: 3)
        var labels = [Int32](repeating: 0, count: n)
        var positions: [Int32]? = tokensPerImage > 0 ? [Int32](repeating: 0, count: n) : nil
        let imageSize = tokensPerImage > 0 ? tokensPerImage : 1
        var label: Int32 = 0
        for t in 0..<n {
            if t % imageSize == 0 { label = Int32(rng.uniformInt(classes)) }
            labels[t] = label
            positions?[t] = Int32(t % imageSize)
        }
        let capacity = capacityFactor.map { Int((($0 * Double(n) * Double(topK)) / Double(experts)).rounded(.up)) }
        var routed: [LayerRouting] = []
        var logits = [Double](repeating: 0, count: experts)
        var order = [Int](repeating: 0, count: experts)
        for l in 0..<layers {
            var offsets = [Int32](repeating: 0, count: n + 1)
            var chosen: [Int32] = [], weights: [Float] = []
            chosen.reserveCapacity(n * topK)
            weights.reserveCapacity(n * topK)
            var top = [Float](repeating: 0, count: n), entropy = [Float](repeating: 0, count: n)
            var preferred = [Int32](repeating: 0, count: n)
            var full: [Float] = probabilities ? [Float](repeating: 0, count: n * experts) : []
            var load = [Int](repeating: 0, count: experts)
            for t in 0..<n {
                let c = Int(labels[t])
                let first = (c + l) % experts, second = (3 * c + l + 1) % experts
                var largest = -Double.infinity
                for x in 0..<experts {
                    var v = rng.gaussian()
                    if x == first { v += 1.5 }
                    if x == second { v += 0.75 }
                    logits[x] = v
                    largest = max(largest, v)
                }
                var z = 0.0
                for x in 0..<experts { logits[x] = exp(logits[x] - largest); z += logits[x] }
                var h = 0.0
                for x in 0..<experts {
                    logits[x] /= z
                    if logits[x] > 0 { h -= logits[x] * log(logits[x]) }
                    if probabilities { full[t * experts + x] = Float(logits[x]) }
                    order[x] = x
                }
                // The topK most probable experts (partial selection sort; experts are few).
                for i in 0..<topK {
                    var best = i
                    for j in (i + 1)..<experts where logits[order[j]] > logits[order[best]] { best = j }
                    order.swapAt(i, best)
                }
                preferred[t] = Int32(order[0])
                top[t] = Float(logits[order[0]])
                entropy[t] = Float(h)
                var kept = 0.0
                for i in 0..<topK { kept += logits[order[i]] }
                for i in 0..<topK {
                    let x = order[i]
                    if let capacity, load[x] >= capacity { continue }
                    load[x] += 1
                    chosen.append(Int32(x))
                    weights.append(Float(logits[x] / kept))
                }
                offsets[t + 1] = Int32(chosen.count)
            }
            routed.append(LayerRouting(layer: l, offsets: offsets, experts: chosen, weights: weights,
                                       topProbability: top, routerEntropy: entropy,
                                       probabilities: probabilities ? full : nil, preferredExpert: preferred,
                                       capacity: capacity))
        }
        return RoutingTrace(expertCount: experts, tokenCount: n, labels: labels, positions: positions,
                            classCount: classes, classNames: (0..<classes).map { "class \($0)" }, layers: routed,
                            metadata: ["router": "synthetic softmax top-\(topK)", "seed": "\(seed)"])
    }

    /// Times `repetitions` analyses of `trace` and reports the median wall-clock and
    /// process CPU time (the analysis is single-threaded, so CPU time is what it costs on
    /// an otherwise idle core) and the process's peak resident memory (Linux `VmHWM`,
    /// which includes the trace).
    public static func run(trace: RoutingTrace, options: AnalysisOptions = AnalysisOptions(),
                           repetitions: Int = 3) throws -> StatisticsBenchmarkResult {
        var times: [Double] = [], cpuTimes: [Double] = []
        var last: TraceAnalysis? = nil
        for _ in 0..<max(1, repetitions) {
            let start = clockSeconds(CLOCK_MONOTONIC), cpuStart = clockSeconds(CLOCK_PROCESS_CPUTIME_ID)
            last = try analyze(trace: trace, options: options)
            times.append(clockSeconds(CLOCK_MONOTONIC) - start)
            cpuTimes.append(clockSeconds(CLOCK_PROCESS_CPUTIME_ID) - cpuStart)
        }
        times.sort()
        cpuTimes.sort()
        let records = trace.tokenCount * trace.layers.count
        return StatisticsBenchmarkResult(
            records: records, tokens: trace.tokenCount, layers: trace.layers.count, experts: trace.expertCount,
            assignments: trace.assignmentCount, bootstrapResamples: options.bootstrapResamples,
            permutations: options.permutations, unit: last!.resampling.unit, method: last!.resampling.method,
            medianSeconds: times[times.count / 2], medianCPUSeconds: cpuTimes[cpuTimes.count / 2],
            peakResidentBytes: peakResidentBytes())
    }

    private static func clockSeconds(_ clock: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The process's peak resident set size in bytes (``PeakMemory/residentBytes()``), or nil.
    public static func peakResidentBytes() -> Int? { PeakMemory.residentBytes() }
}

/// The timing of one ``StatisticsBenchmark/run(trace:options:repetitions:)``.
public struct StatisticsBenchmarkResult: Codable, Sendable, Equatable {
    /// (token, layer) records.
    public var records: Int
    /// Tokens.
    public var tokens: Int
    /// Layers.
    public var layers: Int
    /// Experts per layer.
    public var experts: Int
    /// (token, layer, expert) assignments.
    public var assignments: Int
    /// Bootstrap resamples per analysis.
    public var bootstrapResamples: Int
    /// Permutations per analysis.
    public var permutations: Int
    /// Resampling unit used ("tokens" or "images").
    public var unit: String
    /// Resampling method used ("grouped", "per_unit" or "blocks").
    public var method: String
    /// Median wall-clock seconds per analysis.
    public var medianSeconds: Double
    /// Median process CPU seconds per analysis.
    public var medianCPUSeconds: Double
    /// Peak resident memory of the process in bytes, when known.
    @Nullable public var peakResidentBytes: Int?

    /// Records analysed per second of wall-clock time.
    public var recordsPerSecond: Double { Double(records) / medianSeconds }

    enum CodingKeys: String, CodingKey {
        case records, tokens, layers, experts, assignments
        case bootstrapResamples = "bootstrap_resamples", permutations, unit, method
        case medianSeconds = "median_seconds", medianCPUSeconds = "median_cpu_seconds"
        case peakResidentBytes = "peak_resident_bytes"
    }

    /// The result as a markdown table.
    public var markdownTable: String {
        let memory = peakResidentBytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "–"
        return """
        | records | layers × tokens | experts | bootstrap | permutations | unit (method) | median s | median CPU s | records/s | peak RSS |
        |---|---|---|---|---|---|---|---|---|---|
        | \(records) | \(layers) × \(tokens) | \(experts) | \(bootstrapResamples) | \(permutations) | \(unit) (\(method)) | \(String(format: "%.3f", medianSeconds)) | \(String(format: "%.3f", medianCPUSeconds)) | \(String(format: "%.3g", recordsPerSecond)) | \(memory) |
        """
    }
}
