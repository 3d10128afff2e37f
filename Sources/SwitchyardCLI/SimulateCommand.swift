import ArgumentParser
import Foundation
import SwitchyardCostModel
import SwitchyardFileIO
import SwitchyardTraces
import SwitchyardTraining

/// `switchyard simulate`: what a trace's routing would cost under expert parallelism on D devices.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Estimate a trace's expert-parallel cost on D devices: loads, all-to-all volume, drops, straggler factor, step time.",
        discussion: """
        Each routing group of the trace (its recorded batches; --group-tokens N to cut it \
        otherwise; without either, the whole trace is one group) is one dispatch step. The \
        group's tokens are split over the D devices as a data-parallel batch (device r holds \
        its r-th contiguous share); every (token, expert) assignment is processed on the \
        expert's device and, when that is another device, crosses the network once in the \
        dispatch and once back in the combine (Megatron-Core's all-to-all; --dispatch \
        per-device sends a token once per remote device instead). With --capacity-factor cf \
        each expert keeps ⌈cf · A/E⌉ of a group's A assignments, first in token order. Step \
        time = the busiest device's expert compute (4 · hidden · ffn-hidden FLOPs per row) + \
        2 exchanges of the busiest device's max(sent, received) bytes over the link bandwidth. \
        Placement: contiguous (device r holds experts ⌊rE/D⌋ ..< ⌊(r+1)E/D⌋), balanced \
        (LPT on the trace's loads, then swaps that lower the busiest device and keep \
        co-activated experts together) or a JSON/CSV file; other placements are compared \
        with contiguous. The model, its assumptions and limits: docs/expert-parallel.md.

        Examples:
          switchyard simulate runs/ec --devices 4
          switchyard simulate runs/ec --devices 4 --placement balanced --capacity-factor 1.25 --json ec-d4.json
          switchyard simulate export.csv.gz --experts 64 --devices 16 --hidden 4096 --ffn-hidden 14336 --group-tokens 4096
          switchyard simulate trace/ --devices 8 --placement placement.json --link-bandwidth 50 --device-flops 400
        """
    )

    @Argument(help: ArgumentHelp("A run directory, .sytrace(.gz), CSV(.gz) or a directory with experts.npy (docs/trace-format.md).", valueName: "trace"))
    var input: String

    @Option(help: "Devices D (expert-parallel ranks), 1…1024.")
    var devices: Int

    @Option(help: "contiguous, balanced, or a JSON/CSV file mapping expert → device.")
    var placement = "contiguous"

    @Option(help: "Per-expert capacity factor cf (capacity ⌈cf · A/E⌉ per group); dropless when absent.")
    var capacityFactor: Double?

    @Option(help: "per-expert (one row per remote (token, expert) assignment, Megatron) or per-device (one per remote (token, device)).")
    var dispatch = "per-expert"

    @Option(help: "Cut the trace into groups of N tokens, instead of its recorded routing groups.")
    var groupTokens: Int?

    @Option(help: "All-to-all bandwidth per device and direction, GB/s.")
    var linkBandwidth = 25.0

    @Option(help: "Achieved expert GEMM throughput per device, TFLOP/s.")
    var deviceFlops = 100.0

    @Option(help: "Model hidden size (width of the dispatched rows); default: a run's model width, else 1024.")
    var hidden: Int?

    @Option(help: "Expert FFN inner size; default: a run's expert hidden size when --hidden is not given either, else 4 × hidden.")
    var ffnHidden: Int?

    @Option(help: "Bytes per activation element (2 = bf16).")
    var bytesPerElement = 2

    @Flag(help: "Estimate a training step (compute ×3, forward and backward exchanges) instead of a forward pass.")
    var training = false

    @Option(help: "Experts per layer, for CSV or NPY input whose largest expert index is below E − 1.")
    var experts: Int?

    @Option(help: "Write every number as JSON to this file.")
    var json: String?

    @Option(help: "Write the placement used as JSON (readable by --placement).")
    var savePlacement: String?

    @Flag(help: "In --json, add every group's per-device rows, sent and received.")
    var groupDetail = false

    func run() throws {
        guard let mode = DispatchMode(rawValue: dispatch) else {
            throw InputError(location: "--dispatch", message: "expected per-expert or per-device, got '\(dispatch)'")
        }
        var model = ClusterModel(linkBandwidthGBps: linkBandwidth, deviceTFLOPs: deviceFlops,
                                 bytesPerElement: bytesPerElement, training: training)
        let run = try runConfiguration()
        model.hidden = hidden ?? run?.model.width ?? 1024
        model.ffnHidden = ffnHidden ?? (hidden == nil ? run?.model.expertHidden : nil) ?? 4 * model.hidden
        let options = SimulationOptions(devices: devices, capacityFactor: capacityFactor, dispatch: mode,
                                        model: model, groupDetail: groupDetail)
        try options.validate()
        let trace = try TraceLoader.load(input, expertCount: experts)
        if trace.metadata["router.soft"] == "true" {
            throw InputError(file: input, message: "holds a soft router's trace (metadata router.soft): its records are each "
                             + "token's expert of largest combine mass, not token dispatch, and its experts each process p slots "
                             + "per image (balanced by construction); simulate models token dispatch (docs/routers.md, soft-moe)")
        }
        let groups = try DispatchGroups(trace, groupTokens: groupTokens)
        let started = Date()
        let chosen: ExpertPlacement
        switch placement {
        case "contiguous": chosen = .contiguous(experts: trace.expertCount, devices: devices, layers: trace.layers.count)
        case "balanced": chosen = PlacementOptimizer.balanced(trace, devices: devices, groups: groups, capacityFactor: capacityFactor)
        default: chosen = try PlacementFile.read(placement, trace: trace, devices: devices)
        }
        let result = try ExpertParallelSimulation.run(trace, groups: groups, placement: chosen, options: options)
        let contiguous = chosen.kind == .contiguous ? nil : try ExpertParallelSimulation.run(
            trace, groups: groups, placement: .contiguous(experts: trace.expertCount, devices: devices, layers: trace.layers.count),
            options: options)
        let seconds = Date().timeIntervalSince(started)
        print(describe(trace, groups, result, fromRun: run != nil))
        print("")
        print(table([result] + (contiguous.map { [$0] } ?? [])))
        if let contiguous { print("\n" + comparison(result, contiguous)) }
        print(String(format: "\n(placement and simulation of %@ assignments: %.2f s)", grouped(trace.assignmentCount), seconds))
        // Both outputs are encoded before either is written.
        var outputs: [(String, Data)] = []
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            outputs.append((json, try encoder.encode(Output(source: input, tokens: trace.tokenCount, result: result, contiguous: contiguous))))
        }
        if let savePlacement { outputs.append((savePlacement, PlacementFile.json(chosen, trace: trace))) }
        for (path, data) in outputs {
            try AtomicFile.write(data, to: path)
            print("written to \(path)")
        }
    }

    /// What --json writes.
    struct Output: Encodable {
        let source: String
        let tokens: Int
        let result: SimulationResult
        /// Contiguous placement on the same trace, for comparison (absent when the result is contiguous).
        let contiguous: SimulationResult?
    }

    /// The configuration of a Switchyard run directory given as input (one with `traces/` and
    /// `config.json`), for the model's sizes; nil for any other input.
    func runConfiguration() throws -> TrainingConfiguration? {
        let file = (input as NSString).appendingPathComponent("config.json")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: (input as NSString).appendingPathComponent("traces"), isDirectory: &isDirectory),
              isDirectory.boolValue, FileManager.default.fileExists(atPath: file) else { return nil }
        return try ConfigurationResolver.resolve(preset: nil, file: file, settings: [])
    }

    func describe(_ trace: RoutingTrace, _ groups: DispatchGroups, _ r: SimulationResult, fromRun: Bool) -> String {
        let groupText: String
        switch groups.source {
        case .trace: groupText = "\(grouped(groups.count)) routing groups (recorded in the trace)"
        case .groupTokens: groupText = "\(grouped(groups.count)) groups of \(groupTokens!) tokens (--group-tokens)"
        case .wholeTrace: groupText = "one group (the trace records no routing groups; --group-tokens N cuts it)"
        }
        let m = r.model
        let hiddenSource = hidden != nil ? "" : fromRun ? " (the run's width)" : " (default)"
        let ffnSource = ffnHidden != nil ? "" : hidden == nil && fromRun ? " (the run's expert hidden size)" : " (4 × hidden)"
        var lines = [
            "Expert-parallel cost of \(input): \(trace.layers.count) MoE layer\(trace.layers.count == 1 ? "" : "s"), "
                + "\(trace.expertCount) experts, \(grouped(trace.tokenCount)) tokens, \(grouped(trace.assignmentCount)) assignments in \(groupText)",
            "D = \(r.devices) devices, \(r.placement.rawValue) placement; dispatch "
                + (r.dispatch == .perExpert ? "one row per (token, expert) assignment on another device (Megatron-Core)"
                   : "one row per (token, remote device)")
                + "; " + (r.capacityFactor.map { "capacity factor \($0)" } ?? "dropless"),
            "Model: hidden \(m.hidden)\(hiddenSource), FFN hidden \(m.ffnHidden)\(ffnSource), \(m.bytesPerElement) bytes per element; "
                + "\(m.deviceTFLOPs) TFLOP/s and \(m.linkBandwidthGBps) GB/s each way per device; "
                + (m.training ? "training step" : "forward pass"),
        ]
        if r.devices > r.experts {
            lines.append("Note: D > E: \(r.devices - r.experts) or more devices hold no expert (replicated experts are not modelled).")
        }
        return lines.joined(separator: "\n")
    }

    func table(_ results: [SimulationResult]) -> String {
        var rows = [["placement", "layer", "straggler mean", "p90", "max", "dropped", "remote rows", "step mean", "p90", "× ideal", "split pairs"]]
        for r in results {
            let entries = r.layers.map { (String($0.layer), $0.summary, $0.splitCoActivatedPairs) }
                + [("all", r.overall, r.layers.allSatisfy { $0.splitCoActivatedPairs != nil }
                    ? r.layers.reduce(0) { $0 + $1.splitCoActivatedPairs! } : nil)]
            for (i, (layer, s, split)) in entries.enumerated() {
                rows.append([i == 0 ? r.placement.rawValue : "", layer,
                             number(s.stragglerFactor?.mean), number(s.stragglerFactor?.p90), number(s.stragglerFactor?.max),
                             String(format: "%.2f%%", s.droppedFraction * 100),
                             s.remoteFraction.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a",
                             CostSummary.formatSeconds(s.stepSeconds?.mean), CostSummary.formatSeconds(s.stepSeconds?.p90), number(s.slowdownVersusIdeal),
                             split.map(grouped) ?? "n/a"])
            }
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c < 2 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
            + "\n(straggler = busiest device's rows / mean, per group; remote rows = share of rows sent to another device; "
            + "step = MoE layer time per group, all = summed over layers; × ideal = versus perfectly spread compute and traffic; "
            + "split pairs = co-activated expert pairs on different devices)"
    }

    func comparison(_ r: SimulationResult, _ contiguous: SimulationResult) -> String {
        // Rows processed: the loads the optimiser balances (kept assignments under a capacity).
        let a = r.layers.map { $0.deviceRows.max() ?? 0 }
        let b = contiguous.layers.map { $0.deviceRows.max() ?? 0 }
        let step = (r.overall.stepSeconds?.mean ?? .nan) / (contiguous.overall.stepSeconds?.mean ?? .nan)
        return "\(r.placement.rawValue) versus contiguous: busiest device's rows over the trace (kept assignments), per layer: "
            + zip(a, b).map { "\(grouped($0)) vs \(grouped($1))" }.joined(separator: ", ")
            + String(format: "; mean step time %.3f× contiguous's.", step)
    }

    func number(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%.3f", $0) : "n/a" } ?? "n/a" }

    func grouped(_ n: Int) -> String {
        let digits = String(n)
        return String(digits.enumerated().flatMap { i, c in (i > 0 && (digits.count - i) % 3 == 0) ? [",", c] : [c] })
    }
}

