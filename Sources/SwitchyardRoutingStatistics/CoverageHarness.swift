import CGSL
import Foundation
import SwitchyardTraces

/// A known routing population that the coverage harness draws traces from.
///
/// Expert e's logit for class c in layer l is `loadSkew · z_{(e + l) mod E} + affinity · z_{c,e}`
/// (standard normal z fixed by the scenario seed); a token's first expert is drawn from the
/// softmax, and with probability `secondExpert` a second, distinct one from the same
/// distribution. With `tokensPerImage` > 0 tokens come in images (positions 0…, one label
/// each) and each token copies its image's first token's routing with probability
/// `copyNeighbour`; with `tokensPerImage` = 0 tokens are a sequence (no positions) and each
/// copies the previous token's routing with that probability (only for `affinity` 0, where the
/// copy keeps every token's marginal). Either way each token's marginal routing is the
/// population's, so the truth is exact.
public struct CoverageScenario: Sendable {
    public var name: String
    public var experts: Int
    public var layers: Int
    public var classes: Int
    /// Zipf exponent of the class probabilities (`P(c) ∝ (c + 1)^−s`); nil = uniform.
    public var zipf: Double?
    public var tokens: Int
    public var tokensPerImage: Int
    public var copyNeighbour: Double
    public var loadSkew: Double
    public var affinity: Double
    public var secondExpert: Double
    /// Whether to bootstrap (the large-vocabulary null scenarios only test the permutation p).
    public var bootstrap: Bool
    /// Whether every trace has the population's class composition exactly (an evaluation set's
    /// design: the units of class c are round(units · P(c)), in random order) rather than
    /// drawing each unit's class. The bootstrap is stratified by class, so its intervals are
    /// about routing given the composition; with drawn classes their truth would also vary with
    /// the composition, which they do not claim to cover.
    public var fixedClassCounts: Bool

    public init(name: String, experts: Int, layers: Int = 2, classes: Int = 10, zipf: Double? = nil,
                tokens: Int, tokensPerImage: Int = 0, copyNeighbour: Double = 0, loadSkew: Double,
                affinity: Double, secondExpert: Double = 0.1, bootstrap: Bool = true, fixedClassCounts: Bool = false) {
        self.fixedClassCounts = fixedClassCounts
        self.name = name
        self.experts = experts
        self.layers = layers
        self.classes = classes
        self.zipf = zipf
        self.tokens = tokens
        self.tokensPerImage = tokensPerImage
        self.copyNeighbour = copyNeighbour
        self.loadSkew = loadSkew
        self.affinity = affinity
        self.secondExpert = secondExpert
        self.bootstrap = bootstrap
    }

    /// Whether class and expert are independent (the permutation p-values should be uniform).
    public var isNull: Bool { affinity == 0 }

    /// The harness's scenarios: strong and weak effects, E = 8, 16, 64, independent and
    /// image-clustered tokens, and nulls with uniform and Zipf(1.2) labels of 1,000 and
    /// 50,000 classes with neighbouring tokens routed alike.
    public static let standard: [CoverageScenario] = [
        CoverageScenario(name: "E8 strong, 5k tokens", experts: 8, tokens: 5_000, loadSkew: 0.5, affinity: 1.0, fixedClassCounts: true),
        CoverageScenario(name: "E16 near-balanced, 5k tokens", experts: 16, tokens: 5_000, loadSkew: 0.17,
                         affinity: 0.12, fixedClassCounts: true),
        CoverageScenario(name: "E64 small effects, 20k tokens", experts: 64, tokens: 20_000, loadSkew: 0.11,
                         affinity: 0.15, fixedClassCounts: true),
        CoverageScenario(name: "E8 images of 16, 8k tokens", experts: 8, tokens: 8_000, tokensPerImage: 16,
                         copyNeighbour: 0.5, loadSkew: 0.5, affinity: 0.6, fixedClassCounts: true),
        CoverageScenario(name: "E16 images of 16, near-balanced", experts: 16, tokens: 16_000, tokensPerImage: 16,
                         copyNeighbour: 0.3, loadSkew: 0.17, affinity: 0.12, fixedClassCounts: true),
        CoverageScenario(name: "null, tokens", experts: 8, tokens: 5_000, loadSkew: 0.3, affinity: 0, fixedClassCounts: true),
        CoverageScenario(name: "null, images of 16", experts: 8, tokens: 8_000, tokensPerImage: 16,
                         copyNeighbour: 0.5, loadSkew: 0.3, affinity: 0, fixedClassCounts: true),
        CoverageScenario(name: "null, Zipf 1k classes, neighbours alike", experts: 8, layers: 1, classes: 1_000,
                         zipf: 1.2, tokens: 40_000, copyNeighbour: 0.5, loadSkew: 0.3, affinity: 0, bootstrap: false),
        CoverageScenario(name: "null, Zipf 50k classes, neighbours alike", experts: 8, layers: 1, classes: 50_000,
                         zipf: 1.2, tokens: 40_000, copyNeighbour: 0.5, loadSkew: 0.3, affinity: 0, bootstrap: false),
    ]
}

/// The population of a scenario: class probabilities and, per layer and class, the expert
/// distribution; from them the true value of every statistic.
struct CoveragePopulation {
    let scenario: CoverageScenario
    let classProbability: [Double]
    /// `cumulative[l][c · E + e]`: the CDF of class c's expert distribution in layer l.
    let cumulative: [[Double]]
    let probability: [[Double]]

    init(_ s: CoverageScenario, seed: UInt64) {
        scenario = s
        let e = s.experts, rng = GSLRandom(seed: seed, stream: 5)
        let base = (0..<e).map { _ in rng.gaussian() }
        let affinity = (0..<(s.classes * e)).map { _ in s.affinity == 0 ? 0 : rng.gaussian() }
        var pc = (0..<s.classes).map { c in s.zipf.map { pow(Double(c + 1), -$0) } ?? 1 }
        let z = pc.reduce(0, +)
        pc = pc.map { $0 / z }
        classProbability = pc
        var probability: [[Double]] = [], cumulative: [[Double]] = []
        for l in 0..<s.layers {
            var p = [Double](repeating: 0, count: s.classes * e), cdf = p
            for c in 0..<s.classes {
                var sum = 0.0
                for x in 0..<e {
                    let v = exp(s.loadSkew * base[(x + l) % e] + s.affinity * affinity[c * e + x])
                    p[c * e + x] = v
                    sum += v
                }
                var acc = 0.0
                for x in 0..<e {
                    p[c * e + x] /= sum
                    acc += p[c * e + x]
                    cdf[c * e + x] = acc
                }
                cdf[c * e + e - 1] = 1
            }
            probability.append(p)
            cumulative.append(cdf)
        }
        self.probability = probability
        self.cumulative = cumulative
    }

    /// The expected class × slot assignment table (slot = layer · E + expert), per token:
    /// `π_c (P(first = e) + q P(second = e))`.
    func assignmentTable() -> [Double] {
        let s = scenario, e = s.experts, slots = s.layers * e, q = s.experts > 1 ? s.secondExpert : 0
        var table = [Double](repeating: 0, count: s.classes * slots)
        for l in 0..<s.layers {
            for c in 0..<s.classes {
                let p = Array(probability[l][(c * e)..<((c + 1) * e)])
                for x in 0..<e {
                    var second = 0.0
                    for f in 0..<e where f != x && p[f] < 1 { second += p[f] * p[x] / (1 - p[f]) }
                    table[c * slots + l * e + x] = classProbability[c] * (p[x] + q * second)
                }
            }
        }
        return table
    }

    /// The true headline numbers of every layer and of all layers.
    func truth() -> [Headline] {
        let s = scenario, e = s.experts, slots = s.layers * e
        let table = assignmentTable()
        let scopes = ScopeTables(identityFor: s.layers, expertCount: e, classCount: s.classes)
        // Per-layer class × expert tables in the identity layout.
        let perLayer = (0..<s.layers).map { l in
            (0..<(s.classes * e)).map { i in table[(i / e) * slots + l * e + i % e] }
        }
        var h = scopes.headlines(perLayer, tokens: 1, withAffinity: true)
        let k = 1 + (e > 1 ? s.secondExpert : 0)
        for i in h.indices {
            h[i].meanExpertsPerToken = k
            // Exactly 0 under a null, where the table's rounding would leave V ≈ 1e-9.
            if s.isNull { (h[i].mutualInformation, h[i].cramersV) = (0, 0) }
        }
        return h
    }

    func drawClass(_ rng: GSLRandom, _ classCDF: [Double]) -> Int {
        let u = rng.uniform()
        var lo = 0, hi = classCDF.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if classCDF[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    func drawExpert(_ rng: GSLRandom, layer: Int, classIndex c: Int) -> Int {
        let e = scenario.experts, u = rng.uniform()
        return cumulative[layer].withUnsafeBufferPointer { cdf in
            for x in 0..<e where cdf[c * e + x] > u { return x }
            return e - 1
        }
    }

    /// The classes of `units` units in random order, class c exactly round(units · P(c)) times
    /// (largest remainders, so that they add up to `units`).
    func fixedComposition(_ rng: GSLRandom, units: Int) -> [Int32] {
        let share = classProbability.map { $0 * Double(units) }
        var counts = share.map { Int($0.rounded(.down)) }
        let byRemainder = share.indices.sorted { share[$0] - Double(counts[$0]) > share[$1] - Double(counts[$1]) }
        for c in byRemainder.prefix(units - counts.reduce(0, +)) { counts[c] += 1 }
        var classes = counts.enumerated().flatMap { [Int32](repeating: Int32($0.offset), count: $0.element) }
        for i in stride(from: classes.count - 1, to: 0, by: -1) { classes.swapAt(i, rng.uniformInt(i + 1)) }
        return classes
    }

    /// One trace of the scenario.
    func trace(seed: UInt64) -> RoutingTrace {
        let s = scenario, n = s.tokens, e = s.experts
        let rng = GSLRandom(seed: seed, stream: 6)
        var classCDF = [Double](repeating: 0, count: s.classes)
        var acc = 0.0
        for c in 0..<s.classes { acc += classProbability[c]; classCDF[c] = acc }
        classCDF[s.classes - 1] = 1
        var labels = [Int32](repeating: 0, count: n)
        var positions: [Int32]? = s.tokensPerImage > 0 ? [Int32](repeating: 0, count: n) : nil
        let fixed = s.fixedClassCounts ? fixedComposition(rng, units: s.tokensPerImage > 0 ? (n + s.tokensPerImage - 1) / s.tokensPerImage : n) : nil
        for t in 0..<n {
            if s.tokensPerImage > 0 {
                positions![t] = Int32(t % s.tokensPerImage)
                labels[t] = t % s.tokensPerImage == 0 ? fixed?[t / s.tokensPerImage] ?? Int32(drawClass(rng, classCDF)) : labels[t - 1]
            } else {
                labels[t] = fixed?[t] ?? Int32(drawClass(rng, classCDF))
            }
        }
        var layers: [LayerRouting] = []
        for l in 0..<s.layers {
            var offsets: [Int32] = [0], experts: [Int32] = []
            var anchor: [Int32] = []
            for t in 0..<n {
                let c = Int(labels[t])
                let start = s.tokensPerImage > 0 ? t % s.tokensPerImage == 0 : t == 0
                var chosen: [Int32]
                if !start, s.copyNeighbour > 0, rng.uniform() < s.copyNeighbour {
                    chosen = anchor
                } else {
                    let first = drawExpert(rng, layer: l, classIndex: c)
                    chosen = [Int32(first)]
                    if e > 1 && rng.uniform() < s.secondExpert {
                        var second = first
                        while second == first { second = drawExpert(rng, layer: l, classIndex: c) }
                        chosen.append(Int32(second))
                    }
                }
                if start || s.tokensPerImage == 0 { anchor = chosen }
                experts += chosen
                offsets.append(Int32(experts.count))
            }
            layers.append(LayerRouting(layer: l, offsets: offsets, experts: experts,
                                       weights: [Float](repeating: 1, count: experts.count)))
        }
        return RoutingTrace(expertCount: e, tokenCount: n, labels: labels, positions: positions,
                            classCount: s.classes, layers: layers)
    }
}

/// The coverage of one statistic's intervals in one scope of one scenario.
public struct CoverageRow: Codable, Sendable {
    public var statistic: String
    public var scope: String
    public var truth: Double
    /// Mean of the plug-in estimates over the traces.
    public var meanEstimate: Double
    /// Mean of the headline (bias-corrected) estimates.
    public var meanCorrected: Double?
    /// Traces with an interval.
    public var intervals: Int
    /// Intervals that contain the truth, and their fraction with its Wilson 95 % interval.
    public var covered: Int
    public var coverage: Double
    public var coverageLower: Double
    public var coverageUpper: Double
    /// Intervals entirely below / above the truth.
    public var missBelow: Int
    public var missAbove: Int
    public var meanWidth: Double
    /// The spread the intervals must capture, the standard deviation of the headline estimates
    /// over the traces (and of the plug-in's), beside the mean of the intervals' own standard
    /// errors (the replicates').
    public var estimateSD: Double
    public var plugInSD: Double
    public var meanStandardError: Double
    /// Intervals marked "no detectable affinity" (permutation p > 1 − level; lower end 0).
    public var notDetected: Int
}

/// The calibration of one test under a null scenario.
public struct NullCalibrationRow: Codable, Sendable {
    public var test: String
    public var scope: String
    public var pValues: Int
    /// Fraction with p < 0.05, with its Wilson 95 % interval.
    public var rejections: Double
    public var rejectionsLower: Double
    public var rejectionsUpper: Double
    /// Kolmogorov–Smirnov p of the p-values against U(0, 1) (large = uniform).
    public var ksP: Double
}

/// The harness's results for one scenario.
public struct CoverageScenarioResult: Codable, Sendable {
    public var scenario: String
    public var traces: Int
    public var seconds: Double
    public var coverage: [CoverageRow]
    public var nullCalibration: [NullCalibrationRow]
}

/// Simulation of `analyze`'s intervals and tests against known populations (behind
/// `switchyard bench coverage`): coverage of every 95 % interval with Wilson intervals, and
/// the uniformity of the permutation p-values under nulls. Its tables are in
/// docs/statistics.md.
public enum CoverageHarness {
    /// Runs `traces` simulated traces of `scenario` through ``analyze(trace:options:)``.
    public static func run(_ scenario: CoverageScenario, traces: Int, bootstrap: Int = 200,
                           permutations: Int = 200, seed: UInt64 = 1) throws -> CoverageScenarioResult {
        let started = Date()
        let population = CoveragePopulation(scenario, seed: seed)
        let truth = population.truth()
        let layerCount = scenario.layers
        let scopes = Array(0..<min(layerCount, 1)) + (layerCount > 1 ? [layerCount] : [])
        typealias Pick = (name: String, truth: (Headline) -> Double, estimate: (LayerAnalysis) -> Double?,
                          corrected: (LayerAnalysis) -> Double?, interval: (UncertaintyStatistics) -> BootstrapInterval?)
        let stats: [Pick] = [
            ("cv", { $0.cv }, { $0.load.cv }, { $0.load.cvCorrected }, { $0.cv }),
            ("gini", { $0.gini }, { $0.load.gini }, { $0.uncertainty?.gini?.estimate }, { $0.gini }),
            ("max_vio", { $0.maxVio }, { $0.load.maxVio }, { $0.uncertainty?.maxVio?.estimate }, { $0.maxVio }),
            ("mutual_information_bits", { $0.mutualInformation }, { $0.affinity.mutualInformationBits },
             { $0.headlineMutualInformationBits }, { $0.mutualInformationBits }),
            ("cramers_v", { $0.cramersV }, { $0.affinity.cramersV }, { $0.headlineCramersV }, { $0.cramersV }),
            ("mean_experts_per_token", { $0.meanExpertsPerToken }, { $0.heterogeneity.meanExpertsPerToken },
             { _ in nil }, { $0.meanExpertsPerToken }),
        ]
        var estimates = [[Double]](repeating: [], count: stats.count * scopes.count)
        var corrected = estimates
        var hits = [[BootstrapInterval]](repeating: [], count: stats.count * scopes.count)
        var standardErrors = estimates
        var undetected = [Int](repeating: 0, count: stats.count * scopes.count)
        var permutationP: [[Double]] = Array(repeating: [], count: scopes.count)
        var chiSquareP: [[Double]] = Array(repeating: [], count: scopes.count)
        var transitionP: [Double] = [], transitionPermutationP: [Double] = []
        for r in 0..<traces {
            let trace = population.trace(seed: seed &* 1_000_003 &+ UInt64(r))
            let options = AnalysisOptions(bootstrapResamples: scenario.bootstrap ? bootstrap : 0,
                                          permutations: permutations, seed: UInt64(r), includeTables: false)
            let analysis = try analyze(trace: trace, options: options)
            for (k, scope) in scopes.enumerated() {
                let a = scope < layerCount ? analysis.layers[scope] : analysis.overall
                for (i, stat) in stats.enumerated() {
                    let slot = i * scopes.count + k
                    if let v = stat.estimate(a) { estimates[slot].append(v) }
                    if let v = stat.corrected(a) { corrected[slot].append(v) }
                    if let u = a.uncertainty, let interval = stat.interval(u) {
                        hits[slot].append(interval)
                        if let se = interval.standardError { standardErrors[slot].append(se) }
                        if interval.noDetectableEffect == true { undetected[slot] += 1 }
                    }
                }
                if let p = a.affinity.mutualInformationPermutationP { permutationP[k].append(p) }
                if let p = a.affinity.chi2P { chiSquareP[k].append(p) }
            }
            if let t = analysis.layerTransitions.first {
                if let p = t.chi2P { transitionP.append(p) }
                if let p = t.mutualInformationPermutationP { transitionPermutationP.append(p) }
            }
        }
        var rows: [CoverageRow] = []
        if scenario.bootstrap {
            for (i, stat) in stats.enumerated() {
                for (k, scope) in scopes.enumerated() {
                    let slot = i * scopes.count + k
                    let t = stat.truth(truth[scope])
                    let intervals = hits[slot]
                    let covered = intervals.filter { $0.contains(t) }.count
                    let total = intervals.count
                    let (lo, hi) = wilson(covered, total)
                    rows.append(CoverageRow(
                        statistic: stat.name, scope: scope < layerCount ? "layer \(scope)" : "all layers", truth: t,
                        meanEstimate: mean(estimates[slot]), meanCorrected: corrected[slot].isEmpty ? nil : mean(corrected[slot]),
                        intervals: total, covered: covered, coverage: total > 0 ? Double(covered) / Double(total) : .nan,
                        coverageLower: lo, coverageUpper: hi,
                        missBelow: intervals.filter { $0.upper < t }.count,
                        missAbove: intervals.filter { !$0.contains(t) && $0.upper >= t }.count,
                        meanWidth: mean(intervals.map { $0.upper - $0.lower }),
                        estimateSD: sd(corrected[slot].isEmpty ? estimates[slot] : corrected[slot]),
                        plugInSD: sd(estimates[slot]),
                        meanStandardError: mean(standardErrors[slot]), notDetected: undetected[slot]))
                }
            }
        }
        var nulls: [NullCalibrationRow] = []
        if scenario.isNull {
            for (k, scope) in scopes.enumerated() {
                let name = scope < layerCount ? "layer \(scope)" : "all layers"
                nulls.append(nullRow("MI permutation", name, permutationP[k]))
                nulls.append(nullRow("χ² (independent tokens)", name, chiSquareP[k]))
            }
        }
        // Consecutive layers are independent only without class affinity (both depend on the class).
        if !transitionP.isEmpty && scenario.isNull {
            nulls.append(nullRow("layer transition MI permutation", "0→1", transitionPermutationP))
            nulls.append(nullRow("layer transition χ² (independent tokens)", "0→1", transitionP))
        }
        return CoverageScenarioResult(scenario: scenario.name, traces: traces,
                                      seconds: Date().timeIntervalSince(started), coverage: rows,
                                      nullCalibration: nulls)
    }

    static func nullRow(_ test: String, _ scope: String, _ p: [Double]) -> NullCalibrationRow {
        let rejected = p.filter { $0 < 0.05 }.count
        let (lo, hi) = wilson(rejected, p.count)
        return NullCalibrationRow(test: test, scope: scope, pValues: p.count,
                                  rejections: p.isEmpty ? .nan : Double(rejected) / Double(p.count),
                                  rejectionsLower: lo, rejectionsUpper: hi, ksP: kolmogorovSmirnovUniformP(p))
    }

    /// The Wilson score interval at 95 % of `k` successes in `n` trials (Wilson 1927).
    public static func wilson(_ k: Int, _ n: Int, z: Double = 1.959963984540054) -> (Double, Double) {
        guard n > 0 else { return (.nan, .nan) }
        let p = Double(k) / Double(n), nn = Double(n)
        let centre = (p + z * z / (2 * nn)) / (1 + z * z / nn)
        let half = z / (1 + z * z / nn) * (p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot()
        return (max(0, centre - half), min(1, centre + half))
    }

    /// The asymptotic p-value of the one-sample Kolmogorov–Smirnov test of `values` against
    /// U(0, 1): `Q_KS((√n + 0.12 + 0.11/√n) D)` (Stephens 1970; Press et al., Numerical
    /// Recipes §14.3), `Q_KS(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}`.
    public static func kolmogorovSmirnovUniformP(_ values: [Double]) -> Double {
        let n = values.count
        guard n > 0 else { return .nan }
        let x = values.sorted()
        var d = 0.0
        for (i, v) in x.enumerated() {
            d = max(d, Double(i + 1) / Double(n) - v, v - Double(i) / Double(n))
        }
        let rn = Double(n).squareRoot()
        let lambda = (rn + 0.12 + 0.11 / rn) * d
        if lambda < 0.2 { return 1 }
        var sum = 0.0, sign = 1.0
        for k in 1...100 {
            let term = sign * exp(-2 * Double(k * k) * lambda * lambda)
            sum += term
            if abs(term) < 1e-12 { break }
            sign = -sign
        }
        return min(1, max(0, 2 * sum))
    }

    private static func mean(_ x: [Double]) -> Double { x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count) }
    private static func sd(_ x: [Double]) -> Double { x.count < 2 ? .nan : gsl_stats_sd(x, 1, x.count) }

    /// The results as markdown tables.
    public static func markdown(_ results: [CoverageScenarioResult]) -> String {
        func f(_ x: Double?, _ digits: Int = 4) -> String {
            guard let x, x.isFinite else { return "–" }
            return String(format: "%.\(digits)f", x)
        }
        var lines: [String] = []
        for r in results {
            lines.append("### \(r.scenario) (\(r.traces) traces, \(String(format: "%.0f", r.seconds)) s)")
            lines.append("")
            if !r.coverage.isEmpty {
                lines.append("| statistic | scope | truth | mean plug-in | mean corrected | coverage [Wilson 95 %] | below / above | none | width | SD over traces: corrected, plug-in | mean SE |")
                lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
                for c in r.coverage {
                    lines.append("| \(c.statistic) | \(c.scope) | \(f(c.truth)) | \(f(c.meanEstimate)) | \(f(c.meanCorrected)) | "
                                 + "\(f(c.coverage, 3)) [\(f(c.coverageLower, 3)), \(f(c.coverageUpper, 3))] | "
                                 + "\(c.missBelow) / \(c.missAbove) | \(c.notDetected) | \(f(c.meanWidth)) | "
                                 + "\(f(c.estimateSD)), \(f(c.plugInSD)) | \(f(c.meanStandardError)) |")
                }
                lines.append("")
            }
            if !r.nullCalibration.isEmpty {
                lines.append("| test under the null | scope | p-values | p < 0.05 [Wilson 95 %] | KS p (uniform) |")
                lines.append("|---|---|---|---|---|")
                for n in r.nullCalibration {
                    lines.append("| \(n.test) | \(n.scope) | \(n.pValues) | \(f(n.rejections, 3)) "
                                 + "[\(f(n.rejectionsLower, 3)), \(f(n.rejectionsUpper, 3))] | \(f(n.ksP, 3)) |")
                }
                lines.append("")
            }
        }
        return lines.joined(separator: "\n")
    }
}
