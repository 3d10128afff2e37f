import ArgumentParser
import SwitchyardFileIO
import Foundation
import SwitchyardRoutingStatistics
import SwitchyardTraces
import SwitchyardTraining
import SwitchyardTensorCore

/// `switchyard analyze`: the routing statistics of one or more traces.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Routing statistics of traces: load imbalance, token-expert affinity, heterogeneity, stability.",
        discussion: """
        Each input is a run directory (its newest traces/epoch-N.sytrace), a .sytrace(.gz) \
        file, a CSV(.gz) with header token,layer,expert,weight[,label,position,prob,group], or a \
        directory holding experts.npy (and optionally weights.npy, probs.npy, labels.npy, \
        positions.npy, groups.npy), or Megatron-LM's router_trace_rank*.jsonl (a file or their \
        directory) — see docs/trace-format.md. Load intervals resample whole \
        routing groups (test batches) when the trace records ten or more. The terminal gets a summary per layer with \
        bootstrap confidence intervals; --json writes every number: {"traces": [{source, analysis, \
        stability}, …], "comparison": …}, where each analysis.layers[i] object holds \
        load.cv, load.gini, load.max_vio, load.chi2_p, affinity.mutual_information_bits, \
        affinity.cramers_v, heterogeneity.experts_per_token_histogram, …. For a run directory \
        with two or more epoch traces, the top-1 agreement (and Cohen's κ) between the last two \
        epochs is reported as well. With --versus, the inputs form group A and the --versus \
        runs group B (e.g. several seeds of two routers): every headline metric is compared \
        with Welch's t-test, per layer and over all layers: the difference with its 95 % Welch interval, \
        Hedges' g, p Holm-adjusted within each metric over its scopes, and the smallest difference \
        the runs could detect (α = 0.05, power 0.8); when every input is a run directory, runs of \
        the two groups with the same seed are also compared by Student's paired t-test; --json then \
        holds both groups' analyses (traces = group A, versus = group B). Formulas and sources: \
        docs/statistics.md.

        Examples:
          switchyard analyze runs/ec
          switchyard analyze runs/ec/traces/epoch-1.sytrace --json ec-epoch1.json
          switchyard analyze export.csv.gz --experts 8 --bootstrap 1000 --seed 3
          switchyard analyze runs/sw runs/ec --json both.json
          switchyard analyze runs/sw-s0 runs/sw-s1 runs/sw-s2 --versus runs/ec-s0 runs/ec-s1 runs/ec-s2
          switchyard analyze huge.csv.gz --sample 200000

        Bounded memory (--sample N, CSV input sorted by token): one pass over the file draws N \
        whole units (routing groups when the file has a group column, else tokens) uniformly \
        and counts every row's loads; the statistics and intervals are the sample's, and the \
        whole file's loads (CV, Gini, MaxVio, … per layer, without intervals) are printed \
        beside them and written to the JSON as whole_file. Memory holds the sample, not the \
        file (docs/trace-format.md, "Memory").

        One pass (--stream, NPY directories): the trace is read in chunks of at most \
        --chunk-tokens tokens, cut at image or routing-group boundaries where they can be, and every statistic that \
        needs no resampling (loads, affinity, heterogeneity, layer transitions, neighbour \
        agreement, co-activation, vocabulary, domains, shared experts) is counted as it passes: \
        the same numbers as analyze --bootstrap 0 --permutations 0, in memory that holds one \
        chunk and the count tables, whatever the trace's length. No intervals and no \
        permutation tests; with --sample N, N whole sequences (routing groups, else images, \
        else blocks of 2,048 tokens) drawn uniformly without replacement are analysed in memory \
        with them, printed after the whole trace's numbers and written to the JSON as sample \
        (docs/statistics.md, "One pass over chunks").
          switchyard analyze export/ --stream --json export.json
          switchyard analyze export/ --stream --sample 500
        """
    )

    @Argument(help: ArgumentHelp("Run directories or trace files.", valueName: "run-dir-or-trace"))
    var inputs: [String]

    @Option(help: "Write the full analysis as JSON to this file.")
    var json: String?

    @OptionGroup var resampling: ResamplingOptions

    @Option(help: "Confidence level of the intervals.")
    var confidence = 0.95

    @Option(help: "What the bootstrap resamples: automatic (images when tokens are grouped by image), tokens or images.")
    var unit: String = "automatic"

    @Option(help: "Experts per layer, for CSV or NPY input whose largest expert index is below E − 1 (without it, the count is meta.json's experts beside NPY arrays, else the width of probs.npy, else the largest index + 1, with a warning; at most 4096).")
    var experts: Int?

    @Option(help: ArgumentHelp("Analyse a uniform sample of this many units (tokens, or routing groups) drawn in one pass over a CSV sorted by token, with the whole file's loads beside it: memory bounded by the sample. With --stream: whole sequences of the NPY trace, analysed with intervals beside the one-pass numbers.", valueName: "units"))
    var sample: Int?

    @Flag(help: "Read each input (an NPY directory) in one pass over chunks, in memory that does not grow with the trace: point estimates without intervals or permutation tests.")
    var stream = false

    @Option(name: .customLong("chunk-tokens"), help: ArgumentHelp("Tokens per chunk of --stream (default 65,536, fewer when the chunk's probabilities would pass 64 MiB; chunks end at image or routing-group boundaries where they can).", valueName: "tokens"))
    var chunkTokens: Int?

    @Flag(help: "The inputs are traces of the same tokens at successive checkpoints: report each one's router saturation against the last (OLMoE §5).")
    var saturation = false

    @Flag(name: .customLong("no-tables"), help: "Leave the contingency tables out of the JSON.")
    var noTables = false

    @Option(parsing: .upToNextOption, help: ArgumentHelp("A second group of runs or traces to compare the inputs with (Welch's t-test per metric).", valueName: "run-dir-or-trace"))
    var versus: [String] = []

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one run directory or trace file") }
        guard confidence > 0 && confidence < 1 else { throw ValidationError("--confidence must be in (0, 1), got \(confidence)") }
        if let sample, sample < 1 || sample > Self.maximumSampleUnits {
            throw ValidationError("--sample must be in 1…\(Self.maximumSampleUnits) units, got \(sample)")
        }
        if stream {
            if saturation || !versus.isEmpty { throw ValidationError("--stream analyses each input alone; it does not take --saturation or --versus") }
            if let chunkTokens, chunkTokens < 1 { throw ValidationError("--chunk-tokens must be at least 1, got \(chunkTokens)") }
        }
        guard ResamplingUnit(rawValue: unit) != nil else {
            throw ValidationError("--unit must be one of \(ResamplingUnit.allCases.map(\.rawValue).joined(separator: ", ")), got \(unit)")
        }
    }

    /// One input's analysis, as written to the JSON.
    struct Entry: Encodable {
        let source: String
        let analysis: TraceAnalysis
        let stability: Stability?
        /// With --sample: the whole file's loads (the analysis is the sample's).
        var wholeFile: WholeFileLoads? = nil
        /// With --stream --sample: the sample's in-memory analysis (the analysis is the whole trace's).
        var sample: StreamSample? = nil

        enum CodingKeys: String, CodingKey { case source, analysis, stability, sample, wholeFile = "whole_file" }
    }

    /// What --json writes: the inputs' analyses (group A), the --versus runs' (group B) and
    /// the comparison.
    struct Output: Encodable {
        let traces: [Entry]
        let versus: [Entry]?
        let comparison: RunComparison?
        /// With --saturation: each input against the last.
        var saturation: [RouterSaturation]? = nil
    }

    /// Agreement between the last two epochs of a run.
    struct Stability: Encodable {
        let fromEpoch: Int
        let toEpoch: Int
        let agreement: AssignmentAgreement
        /// Every earlier epoch's router saturation against the last epoch.
        var saturation: [RouterSaturation] = []
    }

    func run() throws {
        if let experts, experts < 1 || experts > TraceInput.maximumAnalysedExpertCount {
            throw InputError(location: "--experts", message: "\(experts) is outside 1…\(TraceInput.maximumAnalysedExpertCount), the expert counts analyze takes")
        }
        let entries = try inputs.map { try analyzeAndPrint($0, heading: inputs.count + versus.count > 1) }
        var comparison: RunComparison?
        var others: [Entry]?
        var saturations: [RouterSaturation]?
        if saturation {
            guard inputs.count >= 2 else {
                throw ValidationError("--saturation needs two or more inputs: checkpoints in order, the final one last")
            }
            let final = try TraceLoader.load(inputs.last!, expertCount: experts)
            saturations = try inputs.dropLast().map {
                try routerSaturation(TraceLoader.load($0, expertCount: experts), against: final, label: $0, source: $0)
            }
            print(saturationLine(saturations!, final: inputs.last!))
        }
        if !versus.isEmpty {
            let group = try versus.map { try analyzeAndPrint($0, heading: true) }
            let result = try compareRuns(entries.map(\.analysis), group.map(\.analysis),
                                         seedsA: try runSeeds(inputs), seedsB: try runSeeds(versus))
            printComparison(result)
            comparison = result
            others = group
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(encoder.encode(Output(traces: entries, versus: others, comparison: comparison,
                                                       saturation: saturations)), to: json)
            print("analysis written to \(json)")
        }
    }

    /// Each input's training seed when every input is a run directory (config.json), else nil.
    private func runSeeds(_ inputs: [String]) throws -> [Int]? {
        var seeds: [Int] = []
        for input in inputs {
            guard TraceInput.isRunDirectory(input), let configuration = try RunDirectorySetup.savedConfiguration(in: input) else { return nil }
            seeds.append(configuration.seed)
        }
        return seeds
    }

    private func printComparison(_ result: RunComparison) {
        print("== Group A (\(result.countA) runs) versus group B (\(result.countB) runs), Welch's t-test, all layers")
        print("   (Holm p: adjusted over each metric's \(result.metrics.filter { $0.metric == "cv" }.count) scopes; read it, not p)")
        print("metric                    mean A     mean B     A − B      95% CI of A − B        g      t        df      p          Holm p     detectable  paired p by seed (Holm)")
        for m in result.metrics where m.scope == "all layers" {
            guard let t = m.test else {
                print("\(m.metric.padding(toLength: 24, withPad: " ", startingAt: 0))  (needs two runs with the metric in each group)")
                continue
            }
            let ci = "[\(format(m.differenceLower)), \(format(m.differenceUpper))]"
            let paired = m.paired.map { test in
                "\(test.p.map { String(format: "%.3g", $0) } ?? "n/a") (\(test.holmP.map { String(format: "%.3g", $0) } ?? "n/a"), \(test.pairs) pairs)"
            } ?? "–"
            print(String(format: "%@  %9.4f  %9.4f  %9.4f  %@  %6@  %7@  %6@  %-9@  %-9@  %10@  %@",
                         m.metric.padding(toLength: 24, withPad: " ", startingAt: 0), t.meanA, t.meanB, t.difference,
                         ci.padding(toLength: 21, withPad: " ", startingAt: 0), format(m.hedgesG),
                         format(t.t), format(t.degreesOfFreedom), t.p.map { String(format: "%.3g", $0) } ?? "n/a",
                         m.holmP.map { String(format: "%.3g", $0) } ?? "n/a", format(m.minimumDetectableDifference), paired))
        }
        print("(detectable: the smallest |A − B| these runs would detect at α = 0.05 with power 0.8; paired: Student's t over "
              + "the seeds both groups ran, when the inputs are run directories; per-layer comparisons are in --json)")
    }

    private func analyzeAndPrint(_ input: String, heading: Bool) throws -> Entry {
        do {
            if stream { return try streamAndPrint(input, heading: heading) }
            // The same options for every input, so that groups are comparable.
            var wholeFile: WholeFileLoads?
            let trace: RoutingTrace
            if let sample {
                (trace, wholeFile) = try sampleForStatistics(input, units: sample)
            } else {
                trace = try TraceInput.loadForStatistics(input, experts: experts)
            }
            var options = resampling.options
            options.confidenceLevel = confidence
            options.resamplingUnit = ResamplingUnit(rawValue: unit)!
            options.includeTables = !noTables
            options.source = input
            let analysis = try analyze(trace: trace, options: options)
            var stability: Stability?
            if let epochs = try? TraceLoader.traces(inRunDirectory: input), epochs.count >= 2 {
                let (a, b) = (epochs[epochs.count - 2], epochs[epochs.count - 1])
                let agreement = try compareAssignments(TraceLoader.load(a.path), TraceLoader.load(b.path),
                                                       firstSource: a.path, secondSource: b.path)
                stability = Stability(fromEpoch: a.epoch, toEpoch: b.epoch, agreement: agreement)
                let final = try TraceLoader.load(b.path)
                stability?.saturation = try epochs.dropLast().map {
                    try routerSaturation(TraceLoader.load($0.path), against: final, label: "epoch \($0.epoch)", source: $0.path)
                }
            }
            if heading { print("== \(input)") }
            if let wholeFile { print(wholeFileSummary(wholeFile)) }
            print(analysis.summary())
            if let stability {
                let o = stability.agreement.overall
                print(String(format: "\nStability, epoch %d → %d (top-1 over all layers): agreement %@, Cohen's κ %@",
                             stability.fromEpoch, stability.toEpoch, format(o.agreement), format(o.cohensKappa)))
                print(saturationLine(stability.saturation, final: "epoch \(stability.toEpoch)"))
            }
            if heading { print("") }
            return Entry(source: input, analysis: analysis, stability: stability, wholeFile: wholeFile)
        }
    }

    /// `analyze --stream` of one input: an NPY directory read in chunks (``analyzeStream(_:options:tokensPerChunk:)``).
    private func streamAndPrint(_ input: String, heading: Bool) throws -> Entry {
        guard FileManager.default.fileExists(atPath: (input as NSString).appendingPathComponent("experts.npy")) else {
            throw InputError(file: input, location: "--stream",
                             message: "one pass over chunks reads an NPY trace directory (experts.npy and the arrays beside it); this input is not one (run directories, .sytrace, CSV and Megatron files are read whole; a CSV can be sampled with --sample)")
        }
        let source = try NPYTraceSource(directory: input, expertCount: experts)
        guard source.expertCount <= TraceInput.maximumAnalysedExpertCount else {
            throw InputError(file: input, location: "expert count",
                             message: "\(source.expertCount) experts; analyze takes at most \(TraceInput.maximumAnalysedExpertCount)")
        }
        var options = resampling.options
        options.confidenceLevel = confidence
        options.includeTables = !noTables
        options.source = input
        let streamed = try analyzeStream(source, options: options, tokensPerChunk: chunkTokens, sampleUnits: sample)
        let analysis = streamed.analysis
        if let warning = analysis.metadata["importWarnings"] { TraceInput.printToStandardError("warning: \(input): \(warning)") }
        if let notes = analysis.metadata["importNotes"] { TraceInput.printToStandardError("note: \(input): \(notes)") }
        if let note = RoutingTrace.unknownLabelNote(unknown: streamed.unknownLabels, tokens: source.tokenCount) {
            TraceInput.printToStandardError("note: \(input): \(note)")
        }
        if heading { print("== \(input)") }
        print(analysis.summary())
        if let drawn = streamed.sample {
            print("\nSample: \(drawn.unitsKept) of \(drawn.unitsInTrace) \(drawn.units), \(drawn.tokens) tokens, drawn \(drawn.method). "
                  + "Its intervals and tests describe what \(drawn.unitsKept) \(drawn.units) say:")
            print(drawn.analysis.summary())
        }
        if heading { print("") }
        return Entry(source: input, analysis: analysis, stability: nil, sample: streamed.sample)
    }

    /// One line of router saturations against `final`.
    private func saturationLine(_ list: [RouterSaturation], final: String) -> String {
        "Router saturation against \(final) (share of each token's final experts already chosen, all layers; random in brackets): "
            + list.map { "\($0.checkpoint) \(format($0.saturation)) (\(format($0.baseline)))" }.joined(separator: ", ")
    }

    /// The most units `--sample` keeps (each unit's rows are held in memory, 40 bytes a row).
    static let maximumSampleUnits = 100_000_000

    /// A sample of the CSV at `input` (``RoutingTraceCSV/sample(_:expertCount:units:using:)``),
    /// seeded by --seed, prepared for the statistics as ``TraceInput/loadForStatistics(_:experts:)`` does.
    private func sampleForStatistics(_ input: String, units: Int) throws -> (RoutingTrace, WholeFileLoads) {
        let lower = input.lowercased()
        guard lower.hasSuffix(".csv") || lower.hasSuffix(".csv.gz") else {
            throw InputError(file: input, location: "--sample",
                             message: "a sample is drawn from a trace CSV (.csv or .csv.gz) in one pass; this input is not one (.npy directories, .sytrace files and run directories are read into memory whole)")
        }
        var generator = SeededRNG(seed: resampling.seed)
        let drawn = try RoutingTraceCSV.sample(input, expertCount: experts, units: units, using: &generator)
        try TraceInput.checkExpertCount(drawn.trace, input: input)
        return (TraceInput.prepared(drawn.trace, input: input), wholeFileLoads(drawn))
    }

    /// The whole file's loads, printed before the sample's summary.
    private func wholeFileSummary(_ w: WholeFileLoads) -> String {
        var lines = ["Sample: \(w.unitsKept) of \(w.unitsInFile) \(w.unit)s (\(w.method)); the statistics below are the sample's.",
                     "Whole file (\(w.tokens) tokens, \(w.rows) rows), loads counted in the same pass, no intervals:",
                     "scope        CV        CV (corrected)  Gini      MaxVio    experts/token  tokens without expert"]
        func row(_ scope: String, _ l: LoadStatistics, _ k: Double) -> String {
            String(format: "%@  %@  %@  %@  %@  %13.4f  %d",
                   scope.padding(toLength: 11, withPad: " ", startingAt: 0), cell(l.cv, 8), cell(l.cvCorrected, 14),
                   cell(l.gini, 8), cell(l.maxVio, 8), k, l.tokensWithoutExpert)
        }
        for l in w.layers { lines.append(row("layer \(l.layer)", l.load, l.meanExpertsPerToken)) }
        lines.append(row("all layers", w.overall, w.meanExpertsPerToken))
        return lines.joined(separator: "\n") + "\n"
    }

    private func cell(_ x: Double?, _ width: Int) -> String {
        (x.map { String(format: "%.4f", $0) } ?? "n/a").padding(toLength: width, withPad: " ", startingAt: 0)
    }


    private func format(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "n/a" }
}
