import SwitchyardCharts
import Foundation
import SwitchyardRoutingStatistics

/// Routers (or any configurations) side by side: runs that differ only by seed form a
/// group; each metric is reported as the group's mean with a Student-t interval across
/// seeds, and every pair of groups with two or more runs each is compared by Welch's t-test.
///
/// ```swift
/// let runs = try ["runs/sw-s0", "runs/sw-s1", "runs/ec-s0", "runs/ec-s1"].map {
///     try RunReport.load(run: $0, options: AnalysisOptions())
/// }
/// try ComparisonReport(runs: runs).document().write(to: "reports/sw-vs-ec")
/// ```
public struct ComparisonReport: Sendable {
    /// The groups, in the order their first runs were given.
    public var groups: [RunGroup]
    /// Confidence level of the intervals across seeds.
    public var confidence: Double
    /// Significance level the generated sentences use.
    public var alpha: Double
    /// The adjustment of each family of tests (Holm by default; BH is exploratory).
    public var correction: MultipleComparisonCorrection
    /// The power at which the minimum detectable difference is computed.
    public static let power = 0.8

    /// Groups `runs` by configuration (seed ignored).
    public init(runs: [RunReport], confidence: Double = 0.95, alpha: Double = 0.05, correction: MultipleComparisonCorrection = .holm) {
        groups = RunGroup.grouping(runs)
        self.confidence = confidence
        self.alpha = alpha
        self.correction = correction
    }

    /// A compared quantity: its name, how to read it off a run, and how to print it.
    struct Metric {
        let name: String
        let percent: Bool
        let digits: Int
        let higherIsBetter: Bool?
        let value: (RunReport) -> Double?
        let interval: (RunReport) -> BootstrapInterval?
    }

    static let metrics: [Metric] = [
        Metric(name: "test accuracy", percent: true, digits: 2, higherIsBetter: true,
               value: { Double($0.run.finalAccuracy) }, interval: { _ in nil }),
        Metric(name: "training time (s)", percent: false, digits: 1, higherIsBetter: false,
               value: { $0.run.trainSeconds }, interval: { _ in nil }),
        Metric(name: "images/s", percent: false, digits: 0, higherIsBetter: true,
               value: { $0.run.imagesPerSecond }, interval: { _ in nil }),
        Metric(name: "peak memory (MiB)", percent: false, digits: 0, higherIsBetter: false,
               value: { $0.run.summary?.peakMemoryMiB }, interval: { _ in nil }),
        Metric(name: "load CV", percent: false, digits: 3, higherIsBetter: false,
               value: { $0.analysis?.overall.headlineCV }, interval: { $0.analysis?.overall.uncertainty?.cv }),
        Metric(name: "MaxVio", percent: false, digits: 3, higherIsBetter: false,
               value: { $0.analysis?.overall.headlineMaxVio }, interval: { $0.analysis?.overall.uncertainty?.maxVio }),
        Metric(name: "MaxVio per training batch", percent: false, digits: 3, higherIsBetter: false,
               value: { BatchMaxVio.mean($0.run.steps.map(\.tokensPerExpert)) }, interval: { _ in nil }),
        Metric(name: "tokens without expert", percent: true, digits: 2, higherIsBetter: false,
               value: { $0.analysis?.overall.load.tokensWithoutExpertFraction }, interval: { _ in nil }),
        Metric(name: "class–expert MI (bits)", percent: false, digits: 3, higherIsBetter: nil,
               value: { $0.analysis?.overall.headlineMutualInformationBits },
               interval: { $0.analysis?.overall.uncertainty?.mutualInformationBits }),
        Metric(name: "experts per token", percent: false, digits: 3, higherIsBetter: nil,
               value: { $0.analysis?.overall.heterogeneity.meanExpertsPerToken },
               interval: { $0.analysis?.overall.uncertainty?.meanExpertsPerToken }),
        Metric(name: "compute Gini", percent: false, digits: 3, higherIsBetter: nil,
               value: { $0.analysis?.overall.heterogeneity.computePerToken.gini }, interval: { _ in nil }),
    ]

    /// The metric called `name` (one of ``metrics``).
    static func metric(_ name: String) -> Metric {
        guard let m = metrics.first(where: { $0.name == name }) else { preconditionFailure("no comparison metric '\(name)'") }
        return m
    }

    /// A group's values of `metric` (runs without the metric left out).
    func values(_ metric: Metric, _ group: RunGroup) -> [Double] {
        group.runs.compactMap { metric.value($0) }.filter(\.isFinite)
    }

    /// The group's mean with its interval: across seeds with two or more runs, else the
    /// single run's value with its bootstrap interval when it has one.
    func cell(_ metric: Metric, _ group: RunGroup) -> String {
        let v = values(metric, group)
        if v.count >= 2 {
            return ReportFormat.mean(Statistics.meanInterval(v, confidence: confidence), single: nil,
                                     percent: metric.percent, digits: metric.digits)
        }
        guard let only = v.first else { return "n/a" }
        if let interval = group.runs.first.flatMap(metric.interval), !metric.percent {
            return ReportFormat.withInterval(only, interval, metric.digits)
        }
        return metric.percent ? ReportFormat.percent(only) : ReportFormat.number(only, metric.digits)
    }

    /// Welch's t-test of `metric` between two groups, nil unless both have two or more values.
    func test(_ metric: Metric, _ a: RunGroup, _ b: RunGroup) -> WelchTTest? {
        let x = values(metric, a), y = values(metric, b)
        guard x.count >= 2, y.count >= 2 else { return nil }
        return try? Statistics.welchTTest(x, y)
    }

    /// The paired test of `metric` over the seeds both groups ran (at least two), or nil.
    func pairedTest(_ metric: Metric, _ a: RunGroup, _ b: RunGroup) -> (mean: Double, t: Double?, degreesOfFreedom: Double, p: Double?)? {
        Statistics.pairedTTest(Statistics.seedDifferences(a.runs.map { ($0.run.configuration.seed, metric.value($0)) },
                                                          b.runs.map { ($0.run.configuration.seed, metric.value($0)) }))
    }

    /// The markdown report and its charts. The same inputs give the same bytes.
    public func document() -> ReportDocument {
        var b = ReportBuilder()
        let runCount = groups.reduce(0) { $0 + $1.runs.count }
        b.heading(1, "Comparison of \(groups.count) configuration\(groups.count == 1 ? "" : "s") over \(runCount) run\(runCount == 1 ? "" : "s")")
        b.paragraph("Written by `switchyard compare`. Runs whose configurations differ only by seed form a group. "
                    + "With two or more runs a cell is the mean across seeds with its "
                    + "\(ReportFormat.percent(confidence, 0)) Student-t interval; with one run it is that run's value, "
                    + "with the bootstrap interval over test images (for the load numbers, over test batches when the "
                    + "trace records them) where the statistic has one. Routing statistics are "
                    + "over all layers of the newest test-set trace (docs/statistics.md).")
        b.heading(2, "What this says")
        b.bullets(findings())
        sideBySide(&b)
        tests(&b)
        charts(&b)
        costSection(&b)
        b.heading(2, "Runs")
        var t = MarkdownTable(["group", "run directory", "seed", "epochs", "test accuracy", "training time", "images/s"],
                              alignments: [.left, .left, .right, .right, .right, .right, .right])
        for g in groups {
            for r in g.runs {
                t.append([g.label, "`\(r.run.path)`", String(r.run.configuration.seed), String(r.run.epochs.last!.epoch),
                          ReportFormat.percent(Double(r.run.finalAccuracy)), ReportFormat.duration(r.run.trainSeconds),
                          ReportFormat.number(r.run.imagesPerSecond, 0)])
            }
        }
        b.table(t)
        return b.document
    }

    private func sideBySide(_ b: inout ReportBuilder) {
        b.heading(2, "Side by side")
        b.paragraph(sideBySideTable().trimmingSuffixNewline())
    }

    /// The side-by-side table of every group and metric, as markdown.
    public func sideBySideTable() -> String {
        let metrics = Self.metrics
        var t = MarkdownTable(["group", "runs"] + metrics.map(\.name), alignments: [.left, .right] + metrics.map { _ in .right })
        for g in groups {
            t.append([g.label, String(g.runs.count)] + metrics.map { cell($0, g) })
        }
        return t.render()
    }

    private func tests(_ b: inout ReportBuilder) {
        b.heading(2, "Are the differences real?")
        var t = MarkdownTable(["A", "B", "metric", "mean A", "mean B", "A − B [\(ReportFormat.percent(confidence, 0)) CI]",
                               "Hedges' g", "t", "df", "p", "\(correction.label) p",
                               "detectable |A − B|", "paired p (by seed)"],
                              alignments: [.left, .left, .left] + Array(repeating: .right, count: 10))
        var any = false
        // One family: every test of this table, adjusted together (Holm: the chance of any false
        // finding among them at α). The paired tests are a second family.
        var rows: [(String, String, Metric, WelchTTest)] = []
        for i in groups.indices {
            for j in groups.indices where j > i {
                for m in Self.metrics {
                    guard let w = test(m, groups[i], groups[j]) else { continue }
                    any = true
                    rows.append((groups[i].label, groups[j].label, m, w))
                }
            }
        }
        let adjusted = correction.adjust(rows.map(\.3.p))
        let groupOf = Dictionary(groups.map { ($0.label, $0) }, uniquingKeysWith: { a, _ in a })
        let paired = rows.map { pairedTest($0.2, groupOf[$0.0]!, groupOf[$0.1]!) }
        let pairedAdjusted = correction.adjust(paired.map { $0?.p })
        for (k, (a, b, m, w)) in rows.enumerated() {
            let f: (Double?) -> String = m.percent ? { ReportFormat.percent($0) } : { ReportFormat.number($0, m.digits) }
            let ci = Statistics.welchDifferenceInterval(w, confidence: confidence)
            let detectable = Statistics.minimumDetectableDifference(w, alpha: alpha, power: Self.power)
            let pairedCell = paired[k].map { test in
                test.p == nil ? "n/a (equal differences)"
                    : "\(ReportFormat.p(test.p)) (\(correction.label) \(ReportFormat.p(pairedAdjusted[k])), \(Int(test.degreesOfFreedom) + 1) pairs)"
            } ?? "–"
            t.append([a, b, m.name, f(w.meanA), f(w.meanB),
                      "\(f(w.difference)) [\(f(ci?.lower)), \(f(ci?.upper))]", ReportFormat.number(Statistics.hedgesG(w), 2),
                      ReportFormat.number(w.t, 2), ReportFormat.number(w.degreesOfFreedom, 1), ReportFormat.p(w.p),
                      ReportFormat.p(adjusted[k]), f(detectable), pairedCell])
        }
        if any {
            b.paragraph("Welch's unequal-variance t-test across seeds, two-sided, for every pair of groups with at least two "
                        + "runs each: the difference A − B with its \(ReportFormat.percent(confidence, 0)) Welch interval, Hedges' g "
                        + "(standardised difference, small-sample corrected), and p before and after the \(correction.label) "
                        + "adjustment over the \(rows.count) tests of this table (the adjusted p is the one to read; "
                        + "\(correction.meaning)). \"detectable |A − B|\" is the smallest true difference these seeds would "
                        + "show at p < \(alpha) with probability \(ReportFormat.percent(Self.power, 0)) (Welch, from the observed "
                        + "spread; unadjusted): a difference below it can hide behind \"not distinguishable\". Runs of the two "
                        + "groups with the same seed share the initialisation draws and the data order, so where at least two "
                        + "seeds pair up, Student's paired t-test of the per-seed differences is given too (its own family, "
                        + "\(correction.label)-adjusted).")
            b.table(t)
        } else {
            b.paragraph("Welch's t-test needs at least two runs (seeds) in each group; no pair of groups has them, so no "
                        + "difference here is tested. Train more seeds (`--seed 1`, `--seed 2`, …) and compare again.")
        }
    }

    private func charts(_ b: inout ReportBuilder) {
        b.heading(2, "Charts")
        let labels = groups.map(\.label)
        for (name, metric) in [("accuracy", Self.metric("test accuracy")), ("throughput", Self.metric("images/s")), ("load-cv", Self.metric("load CV"))] {
            let means = groups.map { g -> Double in
                let v = values(metric, g)
                return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
            }
            var chart = BarChart(title: "\(metric.name): mean per group (bars: \(ReportFormat.percent(confidence, 0)) interval across seeds)",
                                 categories: labels, series: [ChartSeries(name: metric.name, x: [], y: means)],
                                 yLabel: metric.name)
            chart.errorBars = [groups.map { g in
                Statistics.meanInterval(values(metric, g), confidence: confidence).map { $0.lower...$0.upper }
            }]
            b.chart("compare-\(name)", alt: "\(metric.name) per group", svg: chart.svg())
            var t = MarkdownTable(["group", metric.name], alignments: [.left, .right])
            for g in groups { t.append([g.label, cell(metric, g)]) }
            b.table(t)
        }
        // Experts per token (all layers): the share of token-layer pairs with 0, 1, 2, 3, 4+ experts.
        let bins = ["0", "1", "2", "3", "4+"]
        let shares = groups.map { g -> [Double] in
            var sum = [Double](repeating: 0, count: bins.count)
            var n = 0
            for r in g.runs {
                guard let h = r.analysis?.overall.heterogeneity.expertsPerTokenHistogram, h.count == bins.count else { continue }
                let total = Double(max(1, h.reduce(0, +)))
                for k in bins.indices { sum[k] += Double(h[k]) / total }
                n += 1
            }
            return sum.map { n > 0 ? $0 / Double(n) : .nan }
        }
        b.chart("compare-experts-per-token", alt: "Experts per token per group", svg: BarChart(
            title: "Share of token-layer pairs by number of experts", categories: bins,
            series: zip(labels, shares).map { ChartSeries(name: $0, x: [], y: $1) }, yLabel: "share").svg())
        var t = MarkdownTable(["group"] + bins.map { "\($0) experts" }, alignments: [.left] + bins.map { _ in .right })
        for (label, s) in zip(labels, shares) { t.append([label] + s.map { ReportFormat.percent($0, 1) }) }
        b.table(t)
        // Training cross-entropy, averaged over each group's runs at the steps they all logged.
        let series = groups.map { g -> ChartSeries in
            let first = g.runs[0].run.steps
            let common = first.indices.filter { i in g.runs.allSatisfy { i < $0.run.steps.count && $0.run.steps[i].step == first[i].step } }
            return ChartSeries(name: g.label, x: common.map { Double(first[$0].step) },
                               y: common.map { i in g.runs.reduce(0.0) { $0 + Double($1.run.steps[i].crossEntropy) } / Double(g.runs.count) })
        }
        b.chart("compare-loss", alt: "Training cross-entropy per group", svg: LineChart(
            title: "Training cross-entropy (mean over each group's runs)", xLabel: "step", yLabel: "cross-entropy",
            series: series).svg())
        var lt = MarkdownTable(["group", "first logged", "last logged"], alignments: [.left, .right, .right])
        for s in series {
            lt.append([s.name, s.y.first.map { ReportFormat.number($0, 4) } ?? "n/a", s.y.last.map { ReportFormat.number($0, 4) } ?? "n/a"])
        }
        b.table(lt)
    }

    /// Sentences generated from the numbers.
    public func findings() -> [String] {
        var out: [String] = []
        let accuracy = Self.metric("test accuracy")
        let mean = { (m: Metric, g: RunGroup) -> Double? in
            let v = self.values(m, g)
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        guard let best = groups.max(by: { (mean(accuracy, $0) ?? -1) < (mean(accuracy, $1) ?? -1) }) else { return out }
        out.append("Highest mean test accuracy: \(best.label), \(ReportFormat.percent(mean(accuracy, best))) over "
                   + "\(best.runs.count) run\(best.runs.count == 1 ? "" : "s").")
        // The best group against each other one: one family, Holm-adjusted (the best group was
        // picked after looking, so unadjusted p-values would overstate the evidence).
        let others = groups.filter { $0.label != best.label }.compactMap { g -> (RunGroup, WelchTTest)? in
            guard let w = test(accuracy, best, g), w.p != nil else { return nil }
            return (g, w)
        }
        let adjusted = correction.adjust(others.map(\.1.p))
        let name = correction.label
        for (k, (g, w)) in others.enumerated() {
            guard let p = adjusted[k] else { continue }
            let verdict = p < alpha ? "a real difference at \(name)-adjusted p < \(alpha)" : "not distinguishable at \(name)-adjusted p < \(alpha)"
            let ci = Statistics.welchDifferenceInterval(w, confidence: confidence)
            var sentence = "\(best.label) versus \(g.label): \(ReportFormat.number(w.difference * 100, 2)) accuracy points "
                + "[\(ReportFormat.number(ci.map { $0.lower * 100 }, 2)), \(ReportFormat.number(ci.map { $0.upper * 100 }, 2))], "
                + "Hedges' g \(ReportFormat.number(Statistics.hedgesG(w), 2)), Welch p = \(ReportFormat.p(w.p)), "
                + "\(name)-adjusted over \(others.count) comparison\(others.count == 1 ? "" : "s") p = \(ReportFormat.p(p)): \(verdict)"
            if p >= alpha, let detectable = Statistics.minimumDetectableDifference(w, alpha: alpha, power: Self.power) {
                sentence += "; \(min(w.countA, w.countB)) seeds cannot detect differences below about "
                    + "\(ReportFormat.number(detectable * 100, 2)) points (\(ReportFormat.percent(Self.power, 0)) power)"
            }
            out.append(sentence + ".")
        }
        let single = groups.filter { $0.runs.count < 2 }.map(\.label)
        if single.count == groups.count && groups.count > 2 {
            out.append("Every group has one run only: accuracy differences cannot be tested; train more seeds.")
        } else if !single.isEmpty {
            out.append("\(ReportFormat.list(single)) \(single.count == 1 ? "has" : "have") one run only: "
                       + "\(single.count == 1 ? "its" : "their") accuracy differences cannot be tested; train more seeds.")
        }
        let speed = Self.metric("images/s")
        if let fastest = groups.max(by: { (mean(speed, $0) ?? 0) < (mean(speed, $1) ?? 0) }),
           let slowest = groups.min(by: { (mean(speed, $0) ?? 0) < (mean(speed, $1) ?? 0) }), groups.count > 1,
           let f = mean(speed, fastest), let s = mean(speed, slowest), s > 0 {
            out.append("Fastest to train: \(fastest.label) at \(ReportFormat.number(f, 0)) images/s, "
                       + "\(ReportFormat.number(f / s, 2))× the slowest (\(slowest.label)).")
        }
        let cv = Self.metric("load CV")
        let routed = groups.filter { g in g.runs.contains { ($0.analysis?.expertCount ?? 1) > 1 } }
        // A soft router's load column counts each token's expert of largest combine mass; its
        // experts' computed load is equal by construction, so it is not ranked with the others.
        let soft = routed.filter { g in g.runs.contains { $0.analysis?.metadata["router.soft"] == "true" } }
        if !soft.isEmpty {
            out.append("\(ReportFormat.list(soft.map(\.label))) \(soft.count == 1 ? "routes" : "route") softly: every expert computes "
                       + "the same p slots per image, and the load columns count each token at its expert of largest combine mass "
                       + "(left out of the balance ranking).")
        }
        let ranked = routed.filter { g in !soft.contains { $0.label == g.label } }
        if let balanced = ranked.min(by: { (mean(cv, $0) ?? .infinity) < (mean(cv, $1) ?? .infinity) }),
           let worst = ranked.max(by: { (mean(cv, $0) ?? -1) < (mean(cv, $1) ?? -1) }), ranked.count > 1 {
            out.append("Most balanced load: \(balanced.label) (CV \(ReportFormat.number(mean(cv, balanced)))); least: "
                       + "\(worst.label) (CV \(ReportFormat.number(mean(cv, worst)))).")
        }
        let dropped = Self.metric("tokens without expert")
        let dropping = routed.filter { (mean(dropped, $0) ?? 0) > 0 }
        if !dropping.isEmpty {
            out.append("Test tokens that no expert processed (dropped over capacity, or picked by no expert): " + ReportFormat.list(dropping.map {
                "\($0.label) \(ReportFormat.percent(mean(dropped, $0)))"
            }) + ".")
        }
        return out
    }
}
