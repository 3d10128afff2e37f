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
///   row of a token, each group's tokens consecutive; gives ``RoutingTrace/routingGroups``).
/// - Tokens are `0..<(largest token + 1)`; a token without a row in a layer has no
///   assignment there. A negative expert records a token without an assignment (its
///   `weight` may be empty), so that its label, position and probability are kept.
/// - `expertCount` is the largest expert + 1 unless given; `classCount` the largest
///   label + 1; block numbers are the distinct `layer` values in increasing order.
/// - The file may be gzip-compressed (`.csv.gz`).
public enum RoutingTraceCSV {
    /// The columns every trace CSV has.
    public static let requiredColumns = ["token", "layer", "expert", "weight"]
    /// The columns a trace CSV may add.
    public static let optionalColumns = ["label", "position", "prob", "group"]

    // MARK: Import

    /// Reads a trace CSV (gzip or plain). `expertCount` fixes the number of experts
    /// (an expert at or above it is an error); nil takes the largest expert + 1.
    public static func read(_ path: String, expertCount: Int? = nil) throws -> RoutingTrace {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw InputError(file: path, message: "is a directory, expected a CSV file")
        }
        let bytes = try GzipFile.read(path)
        return try parse(bytes, file: path, expertCount: expertCount)
    }

    /// Parses the bytes of a trace CSV; `file` names it in errors and in the trace's
    /// metadata (`source`).
    public static func parse(_ bytes: [UInt8], file: String, expertCount: Int? = nil) throws -> RoutingTrace {
        if let expertCount, expertCount < 1 || expertCount > RoutingTrace.maximumExpertCount {
            throw InputError(file: file, message: "expert count \(expertCount) is outside 1…\(RoutingTrace.maximumExpertCount)")
        }
        let rows = try bytes.withUnsafeBufferPointer { try scan($0, file: file, expertCount: expertCount) }
        return try build(rows, file: file, expertCount: expertCount)
    }

    /// The column kinds a header can name.
    enum Column: String {
        case token, layer, expert, weight, label, position, prob, group
    }

    /// The parsed rows, one entry per data row in file order.
    struct Rows {
        var columns: [Column] = []
        var token: [Int32] = []
        var layer: [Int32] = []
        var expert: [Int32] = []
        var weight: [Float] = []
        /// Per row; −1 = unknown. Empty when the column is absent.
        var label: [Int32] = []
        var position: [Int32] = []
        /// Per row; the routing group. Empty when the column is absent.
        var group: [Int32] = []
        /// Per row; NaN = empty cell. Empty when the column is absent.
        var prob: [Float] = []
        /// The 1-based line of each row.
        var line: [UInt32] = []
        var hasLabel = false
        var hasPosition = false
        var hasProb = false
        var hasGroup = false

        /// The line of the first row satisfying `predicate`.
        func firstLine(where predicate: (Int) -> Bool) -> Int? {
            for r in 0..<token.count where predicate(r) { return Int(line[r]) }
            return nil
        }
    }

    /// Reads header and rows, checking every cell.
    static func scan(_ buffer: UnsafeBufferPointer<UInt8>, file: String, expertCount: Int?) throws -> Rows {
        guard let b = buffer.baseAddress, buffer.count > 0 else {
            throw InputError(file: file, location: "line 1",
                             message: "the file is empty; expected a header with the columns \(requiredColumns.joined(separator: ","))")
        }
        let end = buffer.count
        var p = 0
        // A UTF-8 byte order mark, as Excel writes.
        if end >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { p = 3 }

        // Header.
        var headerEnd = p
        while headerEnd < end && b[headerEnd] != 0x0A && b[headerEnd] != 0x0D { headerEnd += 1 }
        let headerText = String(decoding: UnsafeBufferPointer(rebasing: buffer[p..<headerEnd]), as: UTF8.self)
        if headerText.trimmingCharacters(in: .whitespaces).isEmpty {
            throw InputError(file: file, location: "line 1",
                             message: "no header; expected a header with the columns \(requiredColumns.joined(separator: ","))")
        }
        var rows = Rows()
        for (i, rawName) in headerText.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let name = rawName.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard let column = Column(rawValue: name.lowercased()) else {
                var message = "unknown column '\(name)' (column \(i + 1)); the columns are \((requiredColumns + optionalColumns).joined(separator: ", "))"
                if name.isEmpty && i == 0 { message += " (a pandas index? write with index=False)" }
                throw InputError(file: file, location: "line 1", message: message)
            }
            if rows.columns.contains(column) {
                throw InputError(file: file, location: "line 1", message: "column '\(name)' appears twice")
            }
            rows.columns.append(column)
        }
        for required in requiredColumns where !rows.columns.contains(Column(rawValue: required)!) {
            throw InputError(file: file, location: "line 1",
                             message: "missing required column '\(required)'; the header is '\(headerText)'")
        }
        rows.hasLabel = rows.columns.contains(.label)
        rows.hasPosition = rows.columns.contains(.position)
        rows.hasProb = rows.columns.contains(.prob)
        rows.hasGroup = rows.columns.contains(.group)
        let columns = rows.columns
        let columnCount = columns.count
        p = headerEnd
        if p < end && b[p] == 0x0D { p += 1 }
        if p < end && b[p] == 0x0A { p += 1 }

        let expertLimit = expertCount ?? RoutingTrace.maximumExpertCount
        var tokens: [Int32] = [], layers: [Int32] = [], experts: [Int32] = [], weights: [Float] = []
        var labels: [Int32] = [], positions: [Int32] = [], groups: [Int32] = [], probs: [Float] = [], lines: [UInt32] = []
        let hasLabel = rows.hasLabel, hasPosition = rows.hasPosition, hasProb = rows.hasProb, hasGroup = rows.hasGroup
        var line = 1
        var scratch = [CChar](repeating: 0, count: 64)
        try scratch.withUnsafeMutableBufferPointer { scratch in
            func cellText(_ s: Int, _ e: Int) -> String {
                String(decoding: UnsafeBufferPointer(rebasing: buffer[s..<min(e, s + 80)]), as: UTF8.self)
                    + (e - s > 80 ? "…" : "")
            }
            func cellError(_ column: Column, _ s: Int, _ e: Int, _ what: String) -> InputError {
                InputError(file: file, location: "line \(line), column '\(column.rawValue)'",
                           message: "'\(cellText(s, e))' \(what)")
            }
            while p < end {
                line += 1
                // Blank lines (a trailing newline, say) are skipped.
                if b[p] == 0x0A { p += 1; continue }
                if b[p] == 0x0D {
                    p += 1
                    if p < end && b[p] == 0x0A { p += 1 }
                    continue
                }
                guard line <= Int(UInt32.max) else {
                    throw InputError(file: file, location: "line \(line)", message: "more lines than a trace CSV may have")
                }
                var token: Int32 = 0, layer: Int32 = 0, expert: Int32 = 0
                var weight: Float = .nan, label: Int32 = -1, position: Int32 = -1, group: Int32 = 0, prob: Float = .nan
                var weightStart = 0, weightEnd = 0
                for c in 0..<columnCount {
                    let s = p
                    while p < end && b[p] != 0x2C && b[p] != 0x0A && b[p] != 0x0D { p += 1 }
                    let e = p
                    if c < columnCount - 1 {
                        guard p < end && b[p] == 0x2C else {
                            throw InputError(file: file, location: "line \(line)",
                                             message: "the row has \(c + 1) field\(c == 0 ? "" : "s"), the header has \(columnCount)")
                        }
                        p += 1
                    }
                    let column = columns[c]
                    switch column {
                    case .token, .layer, .expert, .label, .position, .group:
                        let optional = column == .label || column == .position
                        guard let value = parseInteger(b, s, e) else {
                            if optional && isBlank(b, s, e) { continue }
                            throw cellError(column, s, e, isBlank(b, s, e) ? "is empty, expected an integer" : "is not an integer")
                        }
                        switch column {
                        case .token:
                            guard value >= 0 && value < Int(Int32.max) - 1 else {
                                throw cellError(column, s, e, "is not a token number in 0…\(Int32.max - 2)")
                            }
                            token = Int32(value)
                        case .layer:
                            guard value >= 0 && value <= Int(Int32.max) else {
                                throw cellError(column, s, e, "is not a layer number in 0…\(Int32.max)")
                            }
                            layer = Int32(value)
                        case .expert:
                            if value < 0 {
                                expert = -1
                            } else if value >= expertLimit {
                                throw cellError(column, s, e, expertCount != nil
                                    ? "is not below the expert count \(expertLimit)"
                                    : "exceeds the largest expert count \(expertLimit - 1)")
                            } else {
                                expert = Int32(value)
                            }
                        case .label:
                            guard value >= -1 && value < RoutingTrace.maximumClassCount else {
                                throw cellError(column, s, e, "is not a class label in 0…\(RoutingTrace.maximumClassCount - 1) or −1 (unknown)")
                            }
                            label = Int32(value)
                        case .group:
                            guard value >= 0 && value <= Int(Int32.max) else {
                                throw cellError(column, s, e, "is not a routing group number in 0…\(Int32.max)")
                            }
                            group = Int32(value)
                        default:
                            guard value >= -1 && value <= Int(Int32.max) else {
                                throw cellError(column, s, e, "is not a position ≥ 0 or −1 (unknown)")
                            }
                            position = Int32(value)
                        }
                    case .weight:
                        weightStart = s; weightEnd = e
                        if isBlank(b, s, e) { continue }
                        guard let value = parseFloat(b, s, e, scratch) else {
                            throw cellError(column, s, e, "is not a number")
                        }
                        guard value.isFinite && value >= 0 else {
                            throw cellError(column, s, e, "is not a finite combine weight ≥ 0")
                        }
                        weight = value
                    case .prob:
                        if isBlank(b, s, e) { continue }
                        guard let value = parseFloat(b, s, e, scratch) else {
                            throw cellError(column, s, e, "is not a number")
                        }
                        guard value.isFinite && value >= 0 && value <= 1 else {
                            throw cellError(column, s, e, "is not a probability in [0, 1]")
                        }
                        prob = value
                    }
                }
                if p < end && b[p] == 0x2C {
                    var fields = columnCount
                    while p < end && b[p] != 0x0A && b[p] != 0x0D {
                        if b[p] == 0x2C { fields += 1 }
                        p += 1
                    }
                    throw InputError(file: file, location: "line \(line)",
                                     message: "the row has \(fields) fields, the header has \(columnCount)")
                }
                if p < end && b[p] == 0x0D { p += 1 }
                if p < end && b[p] == 0x0A { p += 1 }
                if expert >= 0 && weight.isNaN {
                    throw InputError(file: file, location: "line \(line), column 'weight'",
                                     message: "'\(cellText(weightStart, weightEnd))' is empty; a row with an expert needs a combine weight")
                }
                tokens.append(token)
                layers.append(layer)
                experts.append(expert)
                weights.append(expert >= 0 ? weight : 0)
                if hasLabel { labels.append(label) }
                if hasPosition { positions.append(position) }
                if hasGroup { groups.append(group) }
                if hasProb { probs.append(prob) }
                lines.append(UInt32(line))
            }
        }
        rows.token = tokens
        rows.layer = layers
        rows.expert = experts
        rows.weight = weights
        rows.label = labels
        rows.position = positions
        rows.group = groups
        rows.prob = probs
        rows.line = lines
        if rows.token.isEmpty {
            throw InputError(file: file, location: "line 2", message: "no data rows after the header")
        }
        return rows
    }

    /// Whether `b[s..<e]` holds only spaces and tabs.
    @inline(__always)
    static func isBlank(_ b: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        var i = s
        while i < e {
            if b[i] != 0x20 && b[i] != 0x09 { return false }
            i += 1
        }
        return true
    }

    /// An integer cell: optional spaces, sign, up to 18 digits, optionally a fraction of
    /// zeros (`3.0`, as pandas writes integer columns that held a missing value), spaces.
    static func parseInteger(_ b: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Int? {
        var i = s, end = e
        while i < end && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
        while end > i && (b[end - 1] == 0x20 || b[end - 1] == 0x09) { end -= 1 }
        var negative = false
        if i < end && (b[i] == 0x2D || b[i] == 0x2B) { negative = b[i] == 0x2D; i += 1 }
        let digitsStart = i
        var value = 0
        while i < end && b[i] >= 0x30 && b[i] <= 0x39 {
            if i - digitsStart >= 18 { return nil }
            value = value * 10 + Int(b[i] - 0x30)
            i += 1
        }
        if i == digitsStart { return nil }
        if i < end && b[i] == 0x2E {
            i += 1
            while i < end && b[i] == 0x30 { i += 1 }
        }
        return i == end ? (negative ? -value : value) : nil
    }

    /// A decimal floating-point cell, through the C library's correctly rounded `strtof`.
    static func parseFloat(_ b: UnsafePointer<UInt8>, _ s: Int, _ e: Int,
                           _ scratch: UnsafeMutableBufferPointer<CChar>) -> Float? {
        var i = s, end = e
        while i < end && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
        while end > i && (b[end - 1] == 0x20 || b[end - 1] == 0x09) { end -= 1 }
        let n = end - i
        if n == 0 || n >= scratch.count { return nil }
        for k in 0..<n { scratch[k] = CChar(bitPattern: b[i + k]) }
        scratch[n] = 0
        var stop: UnsafeMutablePointer<CChar>? = nil
        let value = strtof(scratch.baseAddress!, &stop)
        guard let stop, stop == scratch.baseAddress! + n else { return nil }
        return value
    }

    /// Groups the rows into layers and tokens and checks the cross-row rules.
    static func build(_ rows: Rows, file: String, expertCount given: Int?) throws -> RoutingTrace {
        let rowCount = rows.token.count

        // Pass 1: each row's layer entry (block numbers in order of appearance for now),
        // the largest token and expert.
        var layerIndex: [Int32: Int] = [:]
        var rowLayer = [Int32](repeating: 0, count: rowCount)
        var maxToken: Int32 = 0, maxTokenRow = 0, maxExpert: Int32 = -1
        rows.token.withUnsafeBufferPointer { tb in
            rows.layer.withUnsafeBufferPointer { lb in
                rows.expert.withUnsafeBufferPointer { eb in
                    rowLayer.withUnsafeMutableBufferPointer { rb in
                        let tok = tb.baseAddress!, lay = lb.baseAddress!, exp = eb.baseAddress!, out = rb.baseAddress!
                        var lastLayer: Int32 = -1, lastIndex = -1
                        for r in 0..<rowCount {
                            let l = lay[r]
                            if l != lastLayer {
                                if let known = layerIndex[l] {
                                    lastIndex = known
                                } else {
                                    lastIndex = layerIndex.count
                                    layerIndex[l] = lastIndex
                                }
                                lastLayer = l
                            }
                            out[r] = Int32(lastIndex)
                            if tok[r] > maxToken { maxToken = tok[r]; maxTokenRow = r }
                            if exp[r] > maxExpert { maxExpert = exp[r] }
                        }
                    }
                }
            }
        }
        // Layer entries in increasing block order.
        let blockNumbers = layerIndex.keys.sorted()
        var remap = [Int32](repeating: 0, count: blockNumbers.count)
        for (sortedIndex, block) in blockNumbers.enumerated() { remap[layerIndex[block]!] = Int32(sortedIndex) }
        remap.withUnsafeBufferPointer { m in
            rowLayer.withUnsafeMutableBufferPointer { rb in
                let out = rb.baseAddress!
                for r in 0..<rowCount { out[r] = m[Int(out[r])] }
            }
        }

        let tokenCount = Int(maxToken) + 1
        // Tokens are numbered densely; a gap of over a million tokens with no row at all
        // is a mistake (and would allocate per-token arrays for nothing).
        if tokenCount > rowCount + (1 << 20) {
            throw InputError(file: file, location: "line \(rows.line[maxTokenRow]), column 'token'",
                             message: "token \(maxToken) makes \(tokenCount) tokens for \(rowCount) rows; tokens must be numbered 0, 1, 2, … without large gaps")
        }
        // Every layer gets per-token arrays; so many layers × tokens for so few rows means
        // the layer or token numbers are wrong (and would allocate for nothing).
        let (cells, overflow) = blockNumbers.count.multipliedReportingOverflow(by: tokenCount + 1)
        if overflow || cells > 64 * rowCount + (1 << 24) {
            throw InputError(file: file, location: "column 'layer'",
                             message: "\(blockNumbers.count) distinct layers × \(tokenCount) tokens for only \(rowCount) rows; check the layer and token numbers")
        }
        let expertCount: Int
        if let given {
            expertCount = given
        } else {
            guard maxExpert >= 0 else {
                throw InputError(file: file, location: "column 'expert'",
                                 message: "no row has an expert ≥ 0, so the expert count is unknown; give it explicitly")
            }
            expertCount = Int(maxExpert) + 1
        }

        // Per-token label and position: the same in every row of a token.
        func perToken(_ values: [Int32], _ name: String) throws -> [Int32] {
            let unseen = Int32.min
            var result = [Int32](repeating: unseen, count: tokenCount)
            let conflict: Int? = result.withUnsafeMutableBufferPointer { ob in
                values.withUnsafeBufferPointer { vb in
                    rows.token.withUnsafeBufferPointer { tb in
                        let out = ob.baseAddress!, v = vb.baseAddress!, tok = tb.baseAddress!
                        for r in 0..<rowCount {
                            let t = Int(tok[r])
                            if out[t] == unseen {
                                out[t] = v[r]
                            } else if out[t] != v[r] {
                                return r
                            }
                        }
                        for t in 0..<tokenCount where out[t] == unseen { out[t] = -1 }
                        return nil
                    }
                }
            }
            if let r = conflict {
                let token = rows.token[r]
                let first = rows.firstLine { rows.token[$0] == token } ?? 0
                throw InputError(file: file, location: "line \(rows.line[r]), column '\(name)'",
                                 message: "token \(token) has \(name) \(values[r]) here but \(result[Int(token)]) on line \(first)")
            }
            return result
        }
        let labels = rows.hasLabel ? try perToken(rows.label, "label") : nil
        let positions = rows.hasPosition ? try perToken(rows.position, "position") : nil
        let classCount = labels.map { Int(($0.max() ?? -1) + 1) } ?? 0
        var routingGroups: [Int]? = nil
        if rows.hasGroup {
            // A token with no row has no group (−1 from perToken): the ids then fail below.
            switch RoutingTrace.routingGroups(fromTokenGroups: try perToken(rows.group, "group")) {
            case .success(let sizes): routingGroups = sizes
            case .failure(let error):
                let line = rows.firstLine { Int(rows.token[$0]) == error.token }
                throw InputError(file: file, location: line.map { "line \($0), column 'group'" } ?? "token \(error.token)",
                                 message: line == nil ? "token \(error.token) has no row, so no routing group" : "token \(error.token): \(error.message)")
            }
        }

        // CSR layout of every layer in flat arrays: layer l's offsets are
        // offsets[l·(n+1) ..< (l+1)·(n+1)], its assignments start at layerStart[l].
        let layerCount = blockNumbers.count
        let stride = tokenCount + 1
        var offsets = [Int32](repeating: 0, count: layerCount * stride)
        var layerStart = [Int](repeating: 0, count: layerCount + 1)
        // The layer whose assignments do not fit 32-bit offsets, if any.
        let overfull: Int? = offsets.withUnsafeMutableBufferPointer { ob in
            rows.token.withUnsafeBufferPointer { tb in
                rows.expert.withUnsafeBufferPointer { eb in
                    rowLayer.withUnsafeBufferPointer { lb in
                        let o = ob.baseAddress!, tok = tb.baseAddress!, exp = eb.baseAddress!, lay = lb.baseAddress!
                        for r in 0..<rowCount where exp[r] >= 0 {
                            let slot = Int(lay[r]) * stride + Int(tok[r]) + 1
                            if o[slot] == Int32.max { return Int(lay[r]) }
                            o[slot] += 1
                        }
                        for l in 0..<layerCount {
                            var total = 0
                            for t in 0..<tokenCount {
                                total += Int(o[l * stride + t + 1])
                                if total > Int(Int32.max) { return l }
                                o[l * stride + t + 1] = Int32(total)
                            }
                            layerStart[l + 1] = layerStart[l] + total
                        }
                        return nil
                    }
                }
            }
        }
        if let l = overfull {
            throw InputError(file: file, location: "layer \(blockNumbers[l])",
                             message: "more than \(Int32.max) assignments in one layer")
        }
        let total = layerStart[layerCount]
        var flatExperts = [Int32](repeating: 0, count: total)
        var flatWeights = [Float](repeating: 0, count: total)
        var cursors = offsets
        cursors.withUnsafeMutableBufferPointer { cb in
            flatExperts.withUnsafeMutableBufferPointer { feb in
                flatWeights.withUnsafeMutableBufferPointer { fwb in
                    rows.token.withUnsafeBufferPointer { tb in
                        rows.expert.withUnsafeBufferPointer { eb in
                            rows.weight.withUnsafeBufferPointer { wb in
                                rowLayer.withUnsafeBufferPointer { lb in
                                    layerStart.withUnsafeBufferPointer { sb in
                                        guard total > 0 else { return }
                                        let c = cb.baseAddress!, fe = feb.baseAddress!, fw = fwb.baseAddress!
                                        let tok = tb.baseAddress!, exp = eb.baseAddress!, w = wb.baseAddress!
                                        let lay = lb.baseAddress!, start = sb.baseAddress!
                                        for r in 0..<rowCount where exp[r] >= 0 {
                                            let l = Int(lay[r])
                                            let cursor = l * stride + Int(tok[r])
                                            let slot = start[l] + Int(c[cursor])
                                            c[cursor] += 1
                                            fe[slot] = exp[r]
                                            fw[slot] = w[r]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        // The same expert twice for one token in one layer.
        for l in 0..<layerCount {
            var scratch: [Int32] = []
            let duplicate: (token: Int, expert: Int32)? = flatExperts.withUnsafeBufferPointer { eb in
                let base = layerStart[l]
                let layerExperts = UnsafeBufferPointer(rebasing: eb[base..<layerStart[l + 1]])
                for t in 0..<tokenCount {
                    let from = Int(offsets[l * stride + t]), to = Int(offsets[l * stride + t + 1])
                    if to - from > 1,
                       let d = LayerRouting.duplicate(in: layerExperts, from: from, to: to, scratch: &scratch) {
                        return (t, layerExperts[d])
                    }
                }
                return nil
            }
            if let duplicate {
                let block = blockNumbers[l]
                var lines: [UInt32] = []
                for r in 0..<rowCount where rows.token[r] == Int32(duplicate.token) && rows.layer[r] == block
                    && rows.expert[r] == duplicate.expert {
                    lines.append(rows.line[r])
                }
                throw InputError(file: file, location: "line \(lines.count > 1 ? lines[1] : lines.first ?? 0)",
                                 message: "token \(duplicate.token), layer \(block), expert \(duplicate.expert) appears again (first on line \(lines.first ?? 0))")
            }
        }

        // Top probability: the largest prob among a token's rows in the layer.
        var notes: [String] = []
        var topProbabilities = [[Float]?](repeating: nil, count: layerCount)
        if rows.hasProb {
            var top = [Float](repeating: -1, count: layerCount * tokenCount)
            top.withUnsafeMutableBufferPointer { ob in
                rows.prob.withUnsafeBufferPointer { pb in
                    rows.token.withUnsafeBufferPointer { tb in
                        rowLayer.withUnsafeBufferPointer { lb in
                            let out = ob.baseAddress!, prob = pb.baseAddress!, tok = tb.baseAddress!, lay = lb.baseAddress!
                            for r in 0..<rowCount {
                                let p = prob[r]
                                if p.isNaN { continue }
                                let i = Int(lay[r]) * tokenCount + Int(tok[r])
                                if p > out[i] { out[i] = p }
                            }
                        }
                    }
                }
            }
            for l in 0..<layerCount {
                let values = Array(top[(l * tokenCount)..<((l + 1) * tokenCount)])
                let missing = values.reduce(0) { $0 + ($1 < 0 ? 1 : 0) }
                if missing == 0 {
                    topProbabilities[l] = values
                } else if missing < tokenCount {
                    notes.append("layer \(blockNumbers[l]): no top probability, \(missing) of \(tokenCount) tokens have no prob (write a row with expert -1 for dropped tokens)")
                }
            }
        }

        var layers: [LayerRouting] = []
        for l in 0..<layerCount {
            layers.append(LayerRouting(
                layer: Int(blockNumbers[l]), offsets: Array(offsets[(l * stride)..<((l + 1) * stride)]),
                experts: Array(flatExperts[layerStart[l]..<layerStart[l + 1]]),
                weights: Array(flatWeights[layerStart[l]..<layerStart[l + 1]]),
                topProbability: topProbabilities[l]))
        }
        var metadata = ["source": file, "sourceFormat": "csv"]
        if !notes.isEmpty { metadata["importNotes"] = notes.joined(separator: "; ") }
        let trace = RoutingTrace(expertCount: expertCount, tokenCount: tokenCount, labels: labels,
                                 positions: positions, classCount: classCount, layers: layers,
                                 routingGroups: routingGroups, metadata: metadata)
        try trace.validate(file: file)
        return trace
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
    /// capacity, class names and metadata are not exported: `.sytrace` keeps them.
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
