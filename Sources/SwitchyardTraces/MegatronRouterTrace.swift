import SwitchyardFileIO
import Foundation

/// Routing traces written by Megatron-LM's router tracer (`--moe-routing-trace-path`,
/// `megatron/core/transformer/moe/router_trace.py`): one JSON Lines file per rank,
/// `router_trace_rank{R}.jsonl`, one record per (step, block, layer):
///
/// ```json
/// {"step": 0, "stage": "pre_dispatch", "block": "decoder", "layer": 3, "rank": 0,
///  "num_tokens": 128, "topk": 2, "top_indices": [[12, 45], [7, 0], …]}
/// ```
///
/// The tokens of one step on one rank were routed together: they become one routing group,
/// in the order of the files (by rank) and of the steps in each. The layers are the decoder
/// records' `layer` numbers (Megatron's, which count from 1); multi-token-prediction records
/// (`block` "mtp") are left out, with a note. Every decoder layer of a step must have the same
/// number of tokens. The records hold no weights and no expert count: each of a token's k
/// experts gets weight 1/k, and the expert count is the largest index + 1 unless given
/// (``ExpertCountInference``). The trace is marked as sequences (``RoutingTrace/Kind``).
public enum MegatronRouterTrace {
    /// One record as the tracer writes it; other fields (hidden-state and logit offsets) are ignored.
    private struct Record: Decodable {
        var step: Int
        var block: String?
        var layer: Int
        var rank: Int?
        var num_tokens: Int
        var topk: Int
        var top_indices: [[Int]]
    }

    /// The largest file read (the tracer's files are a few bytes per index).
    public static let maximumFileSize = 1 << 31

    /// Reads one rank's file, or every `router_trace_rank*.jsonl` in a directory (by rank).
    public static func read(_ path: String, expertCount given: Int? = nil) throws -> RoutingTrace {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let files: [String]
        if isDirectory.boolValue {
            files = try rankFiles(in: path)
        } else {
            files = [path]
        }
        if let given, given < 1 || given > RoutingTrace.maximumExpertCount {
            throw InputError(file: path, message: "expert count \(given) is outside 1…\(RoutingTrace.maximumExpertCount)")
        }
        // (group of tokens, layer) → the tokens' expert rows.
        var groups: [(file: String, step: Int, rank: Int?, tokens: Int, layers: [Int: [[Int]]], line: Int)] = []
        var mtpRecords = 0
        for file in files {
            let text = try GzipFile.read(file, limit: maximumFileSize)
            var lineNumber = 0
            var groupOfStep: [Int: Int] = [:]
            for rawLine in text.split(separator: 0x0A, omittingEmptySubsequences: false) {
                lineNumber += 1
                let line = rawLine.last == 0x0D ? rawLine.dropLast() : rawLine
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                let record = try decode(Data(line), file: file, line: lineNumber)
                func fail(_ field: String, _ message: String) -> InputError {
                    InputError(file: file, location: "line \(lineNumber), field '\(field)'", message: message)
                }
                if let block = record.block, block != "decoder" {
                    guard block == "mtp" else { throw fail("block", "'\(block)' is neither 'decoder' nor 'mtp'") }
                    mtpRecords += 1
                    continue
                }
                guard record.step >= 0 else { throw fail("step", "\(record.step) is negative") }
                guard record.layer >= 0, record.layer <= Int(Int32.max) else { throw fail("layer", "\(record.layer) is not a layer number ≥ 0") }
                guard record.topk >= 1, record.topk <= RoutingTrace.maximumExpertCount else {
                    throw fail("topk", "\(record.topk) is not in 1…\(RoutingTrace.maximumExpertCount)")
                }
                guard record.num_tokens >= 1 else { throw fail("num_tokens", "\(record.num_tokens) is not a token count ≥ 1") }
                guard record.top_indices.count == record.num_tokens else {
                    throw fail("top_indices", "\(record.top_indices.count) rows for num_tokens \(record.num_tokens)")
                }
                for (t, row) in record.top_indices.enumerated() {
                    guard row.count == record.topk else {
                        throw fail("top_indices", "token \(t) has \(row.count) experts for topk \(record.topk)")
                    }
                    for e in row where e < 0 || e >= (given ?? RoutingTrace.maximumExpertCount) {
                        throw fail("top_indices", "token \(t): expert \(e) is outside 0…\((given ?? RoutingTrace.maximumExpertCount) - 1)")
                    }
                    if Set(row).count != row.count {
                        throw fail("top_indices", "token \(t) names an expert twice: \(row)")
                    }
                }
                if let g = groupOfStep[record.step] {
                    guard groups[g].tokens == record.num_tokens else {
                        throw fail("num_tokens", "\(record.num_tokens) tokens in layer \(record.layer) of step \(record.step), but \(groups[g].tokens) in its other layers (line \(groups[g].line))")
                    }
                    guard groups[g].layers[record.layer] == nil else {
                        throw fail("layer", "layer \(record.layer) of step \(record.step) appears twice")
                    }
                    groups[g].layers[record.layer] = record.top_indices
                } else {
                    groupOfStep[record.step] = groups.count
                    groups.append((file, record.step, record.rank, record.num_tokens, [record.layer: record.top_indices], lineNumber))
                }
            }
        }
        guard let first = groups.first else {
            throw InputError(file: path, message: "no decoder records (expected JSON lines with step, layer, num_tokens, topk, top_indices)")
        }
        let layerNumbers = first.layers.keys.sorted()
        for g in groups where g.layers.keys.sorted() != layerNumbers {
            throw InputError(file: g.file, location: "step \(g.step)",
                             message: "layers \(g.layers.keys.sorted()) differ from the first step's \(layerNumbers); every step must route every MoE layer")
        }
        let tokenCount = groups.reduce(0) { $0 + $1.tokens }
        guard tokenCount < Int(Int32.max) else { throw InputError(file: path, message: "\(tokenCount) tokens do not fit 32-bit offsets") }

        var largest = -1
        var seen: [Bool] = []
        for g in groups { for rows in g.layers.values { for row in rows { for e in row {
            largest = max(largest, e)
            if seen.count <= e { seen += [Bool](repeating: false, count: e + 1 - seen.count) }
            seen[e] = true
        } } } }
        var metadata = ["source": path, "sourceFormat": "megatron-router-trace",
                        RoutingTrace.kindKey: RoutingTrace.Kind.sequences.rawValue]
        let expertCount: Int
        if let given {
            expertCount = given
        } else {
            let (count, warning) = try ExpertCountInference.infer(largest: largest, seen: seen, file: path, location: "field 'top_indices'")
            expertCount = count
            metadata["importWarnings"] = warning
        }
        var notes = ["no weights in the records: each of a token's k experts has weight 1/k"]
        if mtpRecords > 0 { notes.append("\(mtpRecords) multi-token-prediction (mtp) records left out") }
        metadata["importNotes"] = notes.joined(separator: "; ")

        let layers = layerNumbers.map { number -> LayerRouting in
            var offsets: [Int32] = [0], experts: [Int32] = [], weights: [Float] = []
            offsets.reserveCapacity(tokenCount + 1)
            for g in groups {
                for row in g.layers[number]! {
                    experts += row.map { Int32($0) }
                    weights += [Float](repeating: 1 / Float(row.count), count: row.count)
                    offsets.append(Int32(experts.count))
                }
            }
            return LayerRouting(layer: number, offsets: offsets, experts: experts, weights: weights)
        }
        let trace = RoutingTrace(expertCount: expertCount, tokenCount: tokenCount, layers: layers,
                                 routingGroups: groups.map(\.tokens), metadata: metadata)
        try trace.validate(file: path)
        return trace
    }

    /// The `router_trace_rank{R}.jsonl` (or `.jsonl.gz`) files of a directory, by rank R.
    static func rankFiles(in directory: String) throws -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let ranked = names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("router_trace_rank") else { return nil }
            let rest = name.dropFirst("router_trace_rank".count)
            let digits = rest.prefix { $0.isNumber }
            guard let rank = Int(digits), ["jsonl", "jsonl.gz"].contains(String(rest.dropFirst(digits.count + 1))),
                  rest.dropFirst(digits.count).first == "." else { return nil }
            return (rank, (directory as NSString).appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
        guard !ranked.isEmpty else {
            throw InputError(file: directory, message: "no router_trace_rank*.jsonl files (Megatron-LM's router trace)")
        }
        return ranked.map(\.1)
    }

    /// Whether `directory` holds Megatron router trace files.
    public static func isTraceDirectory(_ directory: String) -> Bool { (try? rankFiles(in: directory)) != nil }

    private static func decode(_ line: Data, file: String, line number: Int) throws -> Record {
        do {
            return try JSONDecoder().decode(Record.self, from: line)
        } catch let DecodingError.keyNotFound(key, _) {
            throw InputError(file: file, location: "line \(number), field '\(key.stringValue)'", message: "is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            let field = context.codingPath.first?.stringValue ?? "record"
            throw InputError(file: file, location: "line \(number), field '\(field)'", message: "has the wrong type (\(context.debugDescription))")
        } catch let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.first?.stringValue ?? "record"
            throw InputError(file: file, location: "line \(number), field '\(field)'", message: "is null")
        } catch {
            throw InputError(file: file, location: "line \(number)", message: "is not a JSON object (a Megatron router trace has one per line)")
        }
    }
}
