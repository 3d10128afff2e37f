import SwitchyardFileIO
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Routing traces as CSV, for other frameworks and for pandas: one row per
/// (token, layer, expert) assignment. `docs/trace-format.md` gives the full convention.
///
/// ```text
/// token,layer,expert,weight,label,position,prob,group
/// 0,0,3,0.71,7,1,0.71,0
/// 0,0,1,0.29,7,1,0.22,0
/// 1,0,-1,,7,2,0.64,0      ← expert −1: the token was dropped (no assignment)
/// ```
///
/// - Header required; columns in any order. Required: `token`, `layer`, `expert`,
///   `weight`. Optional: `label` (class of the token's image, −1 or empty = unknown),
///   `position` (−1 or empty = unknown), `prob` (the router's probability of that
///   assignment; a token's `topProbability` in a layer is the largest `prob` of its rows),
///   `group` (the routing group, i.e. batch, the token was routed in: ≥ 0, the same in every
///   row of a token, each group's tokens consecutive; gives ``RoutingTrace/routingGroups``),
///   `domain` (the token's domain, 0…65,535, the same in every row of a token; gives
///   ``RoutingTrace/domains`` for domain specialisation).
/// - Tokens are `0..<(largest token + 1)`; a token without a row in a layer has no
///   assignment there. A negative expert records a token without an assignment (its
///   `weight` may be empty), so that its label, position and probability are kept.
/// - `expertCount` is the largest expert + 1 unless given (``ExpertCountInference``);
///   `classCount` the largest label + 1; block numbers are the distinct `layer` values in
///   increasing order.
/// - The file may be gzip-compressed (`.csv.gz`).
public enum RoutingTraceCSV {
    /// The columns every trace CSV has.
    public static let requiredColumns = ["token", "layer", "expert", "weight"]
    /// The columns a trace CSV may add.
    public static let optionalColumns = ["label", "position", "prob", "group", "domain"]

    // MARK: Import

    /// Reads a trace CSV (gzip or plain). `expertCount` fixes the number of experts
    /// (an expert at or above it is an error); nil takes the largest expert + 1, within
    /// ``ExpertCountInference``'s bound, and notes it in `metadata["importWarnings"]`.
    /// The file is streamed: memory holds the trace and one chunk of text (8 MiB), never
    /// the whole text (docs/trace-format.md, "Memory").
    public static func read(_ path: String, expertCount: Int? = nil) throws -> RoutingTrace {
        try read(path, expertCount: expertCount, chunkSize: CSVText.chunkSize)
    }

    /// ``read(_:expertCount:)`` with chunks of `chunkSize` bytes (tests use small ones).
    static func read(_ path: String, expertCount: Int?, chunkSize: Int) throws -> RoutingTrace {
        try checkExpertCount(expertCount, file: path)
        return try build(.file(path, chunkSize: chunkSize), file: path, expertCount: expertCount)
    }

    /// Parses the bytes of a trace CSV; `file` names it in errors and in the trace's
    /// metadata (`source`).
    public static func parse(_ bytes: [UInt8], file: String, expertCount: Int? = nil) throws -> RoutingTrace {
        try checkExpertCount(expertCount, file: file)
        return try bytes.withUnsafeBufferPointer { try build(.bytes($0), file: file, expertCount: expertCount) }
    }

    /// Throws unless a given expert count is in 1…``RoutingTrace/maximumExpertCount``.
    static func checkExpertCount(_ expertCount: Int?, file: String) throws {
        if let expertCount, expertCount < 1 || expertCount > RoutingTrace.maximumExpertCount {
            throw InputError(file: file, message: "expert count \(expertCount) is outside 1…\(RoutingTrace.maximumExpertCount)")
        }
    }

    // MARK: Export

    /// Writes `trace` as CSV to `path` atomically, gzip-compressed when `path` ends in
    /// `.gz`. See ``text(_:)`` for what the file holds.
    public static func write(_ trace: RoutingTrace, to path: String) throws {
        try trace.validate(file: path)
        var bytes = encodeValidated(trace)
        if path.lowercased().hasSuffix(".gz") { bytes = try GzipFile.compress(bytes) }
        try AtomicFile.write(bytes, to: path)
    }

    /// The trace as CSV text that ``parse(_:file:expertCount:)`` and pandas read:
    /// columns `token,layer,expert,weight`, then `label`, `position`, `prob` and `group` when
    /// the trace has them (`group`: the index of the token's routing group); rows ordered by
    /// token, layer, then assignment order.
    ///
    /// A token with no assignment in a layer gets one row with expert −1 (so that its
    /// label, position and probability survive), as does a token whose top probability
    /// exceeds the probability of every expert it was assigned. `prob` is the router's
    /// probability of the row's expert when the layer has full probabilities, else the
    /// token's top probability. Entropies, full probabilities, preferred experts,
    /// capacity, shared-expert gates, class and domain names and metadata are not exported:
    /// `.sytrace` keeps them.
    public static func text(_ trace: RoutingTrace) throws -> String {
        try trace.validate()
        return String(decoding: encodeValidated(trace), as: UTF8.self)
    }

    /// The CSV bytes of a validated trace.
    static func encodeValidated(_ trace: RoutingTrace) -> [UInt8] {
        let hasProb = trace.layers.contains { $0.topProbability != nil || $0.probabilities != nil }
        var out: [UInt8] = []
        out.reserveCapacity(16 * trace.assignmentCount + 64)
        var header = "token,layer,expert,weight"
        if trace.labels != nil { header += ",label" }
        if trace.positions != nil { header += ",position" }
        if hasProb { header += ",prob" }
        // The routing group of each token, 0, 1, 2, … in token order.
        var groupOfToken: [Int32]? = nil
        if let sizes = trace.routingGroups {
            var ids: [Int32] = []
            ids.reserveCapacity(trace.tokenCount)
            for (g, size) in sizes.enumerated() { ids += repeatElement(Int32(g), count: size) }
            groupOfToken = ids
            header += ",group"
        }
        if trace.domains != nil { header += ",domain" }
        out.append(contentsOf: (header + "\n").utf8)

        let E = trace.expertCount
        func appendInt(_ v: Int) {
            if v < 0 { out.append(0x2D) }
            var m = v.magnitude
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                         UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var n = 0
            withUnsafeMutableBytes(of: &digits) { d in
                repeat {
                    d[n] = UInt8(m % 10) + 0x30
                    m /= 10
                    n += 1
                } while m > 0
                for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
            }
        }
        func appendFloat(_ v: Float) { out.append(contentsOf: v.description.utf8) }
        func appendRow(token t: Int, layer: Int, expert: Int, weight: Float, prob: Float?) {
            appendInt(t); out.append(0x2C)
            appendInt(layer); out.append(0x2C)
            appendInt(expert); out.append(0x2C)
            if expert >= 0 { appendFloat(weight) }
            if let labels = trace.labels { out.append(0x2C); appendInt(Int(labels[t])) }
            if let positions = trace.positions { out.append(0x2C); appendInt(Int(positions[t])) }
            if hasProb {
                out.append(0x2C)
                if let prob { appendFloat(prob) }
            }
            if let groupOfToken { out.append(0x2C); appendInt(Int(groupOfToken[t])) }
            if let domains = trace.domains { out.append(0x2C); appendInt(Int(domains[t])) }
            out.append(0x0A)
        }
        for t in 0..<trace.tokenCount {
            for layer in trace.layers {
                let start = Int(layer.offsets[t]), end = Int(layer.offsets[t + 1])
                var top: Float? = layer.topProbability?[t]
                if top == nil, let p = layer.probabilities {
                    top = p[(t * E)..<(t * E + E)].max()
                }
                var largestWritten: Float = -1
                for j in start..<end {
                    let e = Int(layer.experts[j])
                    let prob = layer.probabilities.map { $0[t * E + e] } ?? top
                    if let prob { largestWritten = max(largestWritten, prob) }
                    appendRow(token: t, layer: layer.layer, expert: e, weight: layer.weights[j], prob: prob)
                }
                if start == end || (top.map { $0 > largestWritten } ?? false) {
                    appendRow(token: t, layer: layer.layer, expert: -1, weight: 0, prob: top)
                }
            }
        }
        return out
    }
}

extension RoutingTrace {
    /// The trace as CSV for pandas and other tools (``RoutingTraceCSV/text(_:)``);
    /// throws when the trace breaks an invariant.
    public func csvText() throws -> String {
        try RoutingTraceCSV.text(self)
    }
}
