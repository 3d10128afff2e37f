import ArgumentParser
import Foundation
import SwitchyardReports
import SwitchyardRoutingStatistics
import SwitchyardTraces

/// `switchyard report`: a markdown report with SVG charts for each run.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a markdown report with SVG charts about a training run or a routing trace.",
        discussion: """
        The report holds the resolved configuration; training curves (loss, accuracy, auxiliary \
        loss, load CV over steps); final and per-class accuracy; per-layer load tables with \
        bootstrap intervals; class × expert heatmaps; the experts-per-token histogram; \
        stability across epochs; and a "What this says" section generated from the numbers. \
        Every chart is an SVG file in DIR/charts, linked relatively, with a table of its numbers \
        beside it. Standard output gets the report's path and its "What this says" list. The \
        same run and options always give the same report. Sections are explained in docs/reports.md.

        Given a trace instead of a run directory (a .sytrace file, a CSV, a folder of .npy \
        arrays such as the Hugging Face exporter writes), the report holds the routing sections \
        and findings alone, with an overview of the trace (its kind, blocks, labels, model).

        With several inputs, each gets its own report in DIR/<name>/.

        Examples:
          switchyard report runs/ec --out reports/ec
          switchyard report runs/sw runs/ec --out reports --bootstrap 1000
          switchyard report Tests/Fixtures/llm/qwen2_moe --out reports/qwen2_moe
        """
    )

    @Argument(help: ArgumentHelp("Run directories written by `switchyard train`, or trace files and folders.", valueName: "run-dir-or-trace"))
    var runs: [String]

    @Option(help: "Experts per layer, for a CSV or NPY trace whose largest expert index is below E − 1.")
    var experts: Int?

    @Option(help: "Directory to write report.md and charts/ to.")
    var out: String

    @OptionGroup var analysis: ResamplingOptions

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run directory or trace") }
        let names = runs.map { ($0 as NSString).standardizingPath.split(separator: "/").last.map(String.init) ?? $0 }
        if runs.count > 1, Set(names).count != names.count {
            throw ValidationError("run directories must have distinct names for one report each under --out; got \(names.joined(separator: ", "))")
        }
    }

    func run() throws {
        for path in runs {
            let document: ReportDocument, findings: [String]
            if TraceInput.isRunDirectory(path) {
                let report = try RunReport.load(run: path, options: analysis.options)
                (document, findings) = (report.document(), report.findings())
            } else {
                var options = analysis.options
                options.source = path
                let trace = try TraceInput.loadForStatistics(path, experts: experts)
                let report = TraceReport(source: path, analysis: try analyze(trace: trace, options: options))
                (document, findings) = (report.document(), report.findings())
            }
            let directory = runs.count == 1 ? out
                : (out as NSString).appendingPathComponent((path as NSString).standardizingPath.split(separator: "/").last.map(String.init) ?? path)
            let written = try document.write(to: directory)
            print("## Report on `\(path)`\n")
            print("Written to [\(written)](\(written)).\n")
            for finding in findings { print("- \(finding)") }
            print("")
        }
    }
}

/// `switchyard compare`: routers side by side across runs, grouped by configuration.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare runs side by side: accuracy, time, load balance, dropped tokens, affinity, compute.",
        discussion: """
        Runs whose configurations differ only by seed form a group (a router's repetitions). \
        For each group the report gives the mean of every metric with a 95% Student-t interval \
        across seeds (or, for a single run, its value with the bootstrap interval), Welch's \
        t-test for every pair of groups with at least two runs each, bar charts with interval \
        bars, the experts-per-token histogram and the mean training curve per group. Standard \
        output gets the report's path, the side-by-side table and the generated findings.

        Each difference also gets the smallest difference the seeds could detect (80 % power) \
        and, where runs of the two groups share seeds, Student's paired t-test by seed. \
        --correction bh switches the adjustment from Holm's to Benjamini–Hochberg's (exploratory).

        Examples:
          switchyard compare runs/sw runs/ec --out reports/sw-vs-ec
          switchyard compare runs/sw-s0 runs/sw-s1 runs/sw-s2 runs/ec-s0 runs/ec-s1 runs/ec-s2 --out reports/three-seeds
        """
    )

    @Argument(help: ArgumentHelp("Run directories written by `switchyard train`, or trace files and folders.", valueName: "run-dir-or-trace"))
    var runs: [String]

    @Option(help: "Experts per layer, for a CSV or NPY trace whose largest expert index is below E − 1.")
    var experts: Int?

    @Option(help: "Directory to write report.md and charts/ to.")
    var out: String

    @Option(help: "Confidence level of the intervals across seeds.")
    var confidence = 0.95

    @Option(help: "Adjustment of each family of tests: holm (family-wise error, the default) or bh (Benjamini–Hochberg false discovery rate; exploratory).")
    var correction: MultipleComparisonCorrection = .holm

    @OptionGroup var analysis: ResamplingOptions

    func validate() throws {
        guard runs.count >= 2 else { throw ValidationError("give at least two run directories to compare") }
        guard confidence > 0 && confidence < 1 else { throw ValidationError("--confidence must be in (0, 1), got \(confidence)") }
    }

    func run() throws {
        let reports = try runs.map { try RunReport.load(run: $0, options: analysis.options) }
        let comparison = ComparisonReport(runs: reports, confidence: confidence, correction: correction)
        let document = comparison.document()
        let written = try document.write(to: out)
        print("## Comparison of \(runs.count) runs\n")
        print("Written to [\(written)](\(written)).\n")
        for finding in comparison.findings() { print("- \(finding)") }
        print("")
        print(comparison.sideBySideTable())
    }
}
extension MultipleComparisonCorrection: ExpressibleByArgument {}
