import SwitchyardCostModel
import SwitchyardFileIO
import Foundation
import SwitchyardRoutingStatistics
import SwitchyardTraces
import SwitchyardTraining

/// Agreement of the top-1 assignments of the test set between two epochs of one run.
public struct EpochStability: Sendable {
    /// The earlier epoch.
    public var fromEpoch: Int
    /// The later epoch.
    public var toEpoch: Int
    /// Per layer and overall agreement, Cohen's κ and mutual information.
    public var agreement: AssignmentAgreement

    /// The agreement between `fromEpoch` and `toEpoch`.
    public init(fromEpoch: Int, toEpoch: Int, agreement: AssignmentAgreement) {
        self.fromEpoch = fromEpoch
        self.toEpoch = toEpoch
        self.agreement = agreement
    }
}

/// Everything a report says about one run: its records, the statistics of the routing of the
/// test set after the last epoch, and the stability of that routing across epochs.
///
/// ```swift
/// let report = try RunReport.load(run: "runs/ec", options: AnalysisOptions())
/// try report.document().write(to: "reports/ec")
/// ```
public struct RunReport: RoutingReport {
    /// The run's records.
    public var run: RunDirectory
    /// The statistics of the newest epoch's test-set trace (nil when the run wrote no traces).
    public var analysis: TraceAnalysis?
    /// The epoch of that trace.
    public var analysedEpoch: Int?
    /// Agreement between consecutive epochs' traces.
    public var stability: [EpochStability]
    /// Each earlier epoch's router saturation against the analysed (last) epoch.
    public var saturation: [RouterSaturation]
    /// The expert-parallel cost of that trace versus the device count (RunReport+Cost.swift).
    public var cost: CostSweep?
    /// For an expert-parallel run, that trace simulated as the run dispatched it
    /// (RunReport+ExpertParallel.swift).
    public var expertParallelSimulation: SimulationResult?

    /// A report over already computed parts.
    public init(run: RunDirectory, analysis: TraceAnalysis?, analysedEpoch: Int?, stability: [EpochStability],
                cost: CostSweep? = nil, expertParallelSimulation: SimulationResult? = nil,
                saturation: [RouterSaturation] = []) {
        self.run = run
        self.analysis = analysis
        self.analysedEpoch = analysedEpoch
        self.stability = stability
        self.cost = cost
        self.expertParallelSimulation = expertParallelSimulation
        self.saturation = saturation
    }

    /// Reads the run directory at `path`, analyses its newest trace with `options`, and
    /// compares each pair of consecutive epoch traces.
    public static func load(run path: String, options: AnalysisOptions) throws -> RunReport {
        let run = try RunDirectory(path: path)
        let traces = run.configuration.traces ? try TraceLoader.traces(inRunDirectory: path) : []
        var analysis: TraceAnalysis?
        var stability: [EpochStability] = []
        var cost: CostSweep?
        var simulated: SimulationResult?
        var saturation: [RouterSaturation] = []
        if let last = traces.last {
            var o = options
            o.source = last.path
            let finalTrace = try TraceLoader.load(last.path)
            let trace = finalTrace
            analysis = try analyze(trace: trace, options: o)
            // The simulator moves tokens to experts; a soft router moves slots (see costSection).
            cost = trace.metadata["router.soft"] == "true" ? nil : try costSweep(trace, run.configuration)
            simulated = try expertParallelSimulation(trace, run: run)
            var previous: (epoch: Int, trace: RoutingTrace)?
            for entry in traces {
                let trace = try TraceLoader.load(entry.path)
                if entry.epoch != last.epoch {
                    saturation.append(try routerSaturation(trace, against: finalTrace, label: "epoch \(entry.epoch)", source: entry.path))
                }
                if let previous {
                    let agreement = try compareAssignments(previous.trace, trace, firstSource: "epoch \(previous.epoch)",
                                                           secondSource: "epoch \(entry.epoch)")
                    stability.append(EpochStability(fromEpoch: previous.epoch, toEpoch: entry.epoch, agreement: agreement))
                }
                previous = (entry.epoch, trace)
            }
        }
        return RunReport(run: run, analysis: analysis, analysedEpoch: traces.last?.epoch, stability: stability, cost: cost,
                         expertParallelSimulation: simulated, saturation: saturation)
    }

    /// The test set's tokens after the analysed epoch.
    public func routingSubject(_ a: TraceAnalysis) -> String {
        "the \(ReportFormat.count(a.tokenCount)) test-set tokens after epoch \(analysedEpoch ?? 0), evaluation mode"
    }

    /// A run with fewer than two epoch traces has no stability across epochs.
    public var missingStabilityNote: String? {
        "Stability across epochs needs traces of at least two epochs; this run has \(analysis == nil ? "none" : "one")."
    }

    /// The class names of the run (from its summary, else from the trace, else numbers); the
    /// analysis's own when it counts only the labels that occur (``TraceAnalysis/classIds``).
    public var classNames: [String] {
        if analysis?.classIds != nil, let names = analysis?.classNames { return names }
        if let names = run.summary?.classNames, !names.isEmpty { return names }
        if let names = analysis?.classNames, !names.isEmpty { return names }
        return (0..<run.configuration.model.classes).map(String.init)
    }

    /// The markdown report and its charts. The same inputs give the same bytes.
    public func document() -> ReportDocument {
        var b = ReportBuilder()
        let c = run.configuration
        b.heading(1, "Run report: \(c.model.router) on \(c.data.dataset)")
        b.paragraph("Run directory `\(run.path)`. Written by `switchyard report`; every number below is "
                    + "computed from the run's files (config.json, metrics.jsonl, epochs.jsonl, traces/). "
                    + "Intervals in brackets are \(intervalDescription).")
        overview(&b)
        b.heading(2, "What this says")
        b.bullets(findings())
        trainingSection(&b)
        classSection(&b)
        if let analysis {
            loadSection(&b, analysis)
            affinitySection(&b, analysis)
            computeSection(&b, analysis)
            sequenceSection(&b, analysis)
            costSection(&b)
            measuredExpertParallelSection(&b)
        } else {
            b.heading(2, "Routing")
            b.paragraph("The run recorded no routing traces (`traces` is false in its configuration), so there are no routing statistics.")
        }
        stabilitySection(&b)
        b.heading(2, "Configuration")
        b.paragraph("The resolved configuration (`config.json`); `switchyard train --config` on this file repeats the run.")
        b.code(configurationJSON, language: "json")
        return b.document
    }

    /// How the intervals were computed, for the report's opening.
    var intervalDescription: String {
        guard let r = analysis?.resampling, r.bootstrapResamples > 0 else { return "not computed (no bootstrap)" }
        return ReportFormat.bootstrapIntervals(r) + " of the test set's \(r.unit)"
            + (r.loadRoutingGroups.map { groups in
                "; for the load numbers (CV, Gini, MaxVio, experts per token), of its \(groups) evaluation "
                    + "batches, the routing groups"
                    + ((r.loadGroupsPerUnit ?? 1) > 1 ? ", drawn \(r.loadGroupsPerUnit!) at a time" : "")
            } ?? "")
            + " (seed \(r.seed))"
    }

    private var configurationJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(run.configuration)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private func overview(_ b: inout ReportBuilder) {
        let c = run.configuration
        var t = MarkdownTable(["", ""])
        let options = (run.summary?.routerOptions ?? c.model.routerOptions).sorted { $0.key < $1.key }
            .map { "\($0.key) = \($0.value)" }.joined(separator: ", ")
        t.append(["router", c.model.router + (options.isEmpty ? "" : " (\(options))")])
        if let traits = run.summary?.routerTraits.flatMap(RouterTraitsText.init(metadata:)) {
            t.append(["router traits", traits.text])
        }
        t.append(["preset, seed", "\(c.preset), seed \(c.seed)"])
        t.append(["model", "depth \(c.model.depth), width \(c.model.width), \(c.model.heads) heads, patch \(c.model.patchSize), "
                  + "\(c.model.experts) experts of hidden \(c.model.expertHidden), "
                  + (c.model.moeEvery == 1 ? "MoE in every block" : "MoE in every \(c.model.moeEvery)th block")])
        if let s = run.summary {
            t.append(["parameters", "\(ReportFormat.count(s.parameterCount)) trained, \(ReportFormat.count(s.evaluationParameterCount)) evaluated"])
        }
        let last = run.epochs.last!
        t.append(["training", "\(last.epoch) of \(c.epochs) epochs, \(ReportFormat.count(last.step)) steps of \(c.batchSize) images"
                  + (run.summary == nil ? " (run not finished)" : "")])
        t.append(["final test accuracy", ReportFormat.percent(Double(last.testAccuracy))])
        t.append(["training time", "\(ReportFormat.duration(run.trainSeconds)), "
                  + "\(ReportFormat.number(run.imagesPerSecond, 0)) images/s, \(c.threads) thread(s)"])
        b.table(t)
    }
}
