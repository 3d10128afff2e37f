import SwitchyardRoutingStatistics
import SwitchyardTraces

/// A report on a routing trace by itself (`switchyard report TRACE`): a trace imported from
/// another framework (CSV, NumPy arrays, the Hugging Face exporter's folder) or a `.sytrace`
/// file, with the routing sections and findings of a run report and none of its training.
///
/// ```swift
/// let trace = try TraceLoader.load("Tests/Fixtures/llm/qwen2_moe")
/// let report = TraceReport(source: "qwen2_moe", analysis: try analyze(trace: trace))
/// try report.document().write(to: "reports/qwen2_moe")
/// ```
public struct TraceReport: RoutingReport {
    /// The trace's path, as given.
    public var source: String
    /// Its statistics.
    public var analysis: TraceAnalysis?
    public var stability: [EpochStability] { [] }
    /// One trace has no stability across checkpoints; the note says how to get it.
    public var missingStabilityNote: String? {
        "Stability across checkpoints needs traces of the same tokens at several checkpoints: "
            + "`switchyard analyze ckpt-1000 ckpt-5000 final --saturation` (docs/llm-traces.md)."
    }

    public init(source: String, analysis: TraceAnalysis) {
        self.source = source
        self.analysis = analysis
    }

    /// The trace's class names, else numbers.
    public var classNames: [String] {
        guard let a = analysis else { return [] }
        return a.classNames.isEmpty ? (0..<a.classCount).map(String.init) : a.classNames
    }

    var isSequences: Bool { analysis?.metadata[RoutingTrace.kindKey] == RoutingTrace.Kind.sequences.rawValue }

    public func routingSubject(_ a: TraceAnalysis) -> String {
        "the trace's \(ReportFormat.count(a.tokenCount)) \(isSequences ? "tokens of sequences" : "tokens")"
    }

    /// Sentences generated from the trace's numbers.
    public func findings() -> [String] {
        guard let a = analysis else { return [] }
        if a.expertCount == 1 {
            return ["Each MoE layer has a single expert, so every token takes the same path."]
        }
        return loadFindings(a) + affinityFindings(a, names: classNames) + computeFindings(a, names: classNames)
    }

    /// The markdown report and its charts. The same trace and options give the same bytes.
    public func document() -> ReportDocument {
        var b = ReportBuilder()
        let name = source.split(separator: "/").last.map(String.init) ?? source
        b.heading(1, "Trace report: \(name)")
        b.paragraph("Trace `\(source)`. Written by `switchyard report`; every number below is computed from the "
                    + "trace alone (no training records). Intervals in brackets are \(intervalDescription).")
        if let a = analysis { overview(&b, a) }
        b.heading(2, "What this says")
        b.bullets(findings())
        if let a = analysis {
            loadSection(&b, a)
            affinitySection(&b, a)
            computeSection(&b, a)
            sequenceSection(&b, a)
        }
        stabilitySection(&b)
        b.heading(2, "Expert-parallel cost")
        b.paragraph("`switchyard simulate \(source) --devices 8` estimates what this routing costs on D devices "
                    + "(docs/expert-parallel.md); a run report includes it because the run's configuration gives the "
                    + "model's sizes.")
        return b.document
    }

    var intervalDescription: String {
        guard let r = analysis?.resampling, r.bootstrapResamples > 0 else { return "not computed (no bootstrap)" }
        return ReportFormat.bootstrapIntervals(r) + " of the trace's \(r.unit)"
            + (r.loadRoutingGroups.map { "; for the load numbers, of its \($0) routing groups" } ?? "")
            + " (seed \(r.seed))"
    }

    private func overview(_ b: inout ReportBuilder, _ a: TraceAnalysis) {
        var t = MarkdownTable(["", ""])
        let m = a.metadata
        if let model = m["model"] ?? m["architecture"] { t.append(["model", model]) }
        if let router = m["router"] { t.append(["router", router]) }
        if let convention = m["convention"] { t.append(["routing convention", convention]) }
        t.append(["source format", m["sourceFormat"] ?? "sytrace"])
        t.append(["kind", isSequences ? "sequences (token ids as labels)" : m[RoutingTrace.kindKey] ?? "not recorded"])
        t.append(["layers", "\(a.layerCount) (blocks \(a.layers.map { String($0.layer ?? 0) }.joined(separator: ", ")))"])
        t.append(["tokens", ReportFormat.count(a.tokenCount)])
        t.append(["experts", "\(a.expertCount)" + (m["sharedExperts"].map { ", plus \($0) shared" } ?? "")])
        if let shared = a.sharedExperts, shared.contains(where: { $0.sharedShare != nil }) {
            t.append(["shared experts' share of the combine weight",
                      shared.map { "block \($0.layer): \(ReportFormat.percent($0.sharedShare, 1))" }.joined(separator: ", ")])
        }
        let noun = m["labelKind"] == "token ids" ? "token ids" : "labels"
        t.append(["labels", a.classCount == 0 ? "none"
                  : a.occurringLabels(noun)
                  ?? (noun == "token ids" ? "token ids 0…\(a.classCount - 1)" : "\(a.classCount) classes")])
        if let groups = a.resampling.routingGroups {
            t.append(["routing groups", "\(ReportFormat.count(groups))" + (isSequences ? " (sequences)" : "")])
        }
        b.table(t)
    }
}
