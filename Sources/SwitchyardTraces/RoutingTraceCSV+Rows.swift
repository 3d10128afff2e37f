import SwitchyardFileIO
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RoutingTraceCSV {
    /// The column kinds a header can name.
    enum Column: String {
        case token, layer, expert, weight, label, position, prob, group, domain
    }

    /// The columns of a file's header, in file order.
    struct Header: Equatable {
        var columns: [Column] = []
        var hasLabel: Bool { columns.contains(.label) }
        var hasPosition: Bool { columns.contains(.position) }
        var hasProb: Bool { columns.contains(.prob) }
        var hasGroup: Bool { columns.contains(.group) }
        var hasDomain: Bool { columns.contains(.domain) }
    }

    /// One data row, every cell checked. Absent optional columns and empty optional cells
    /// hold −1 (label, position, domain), 0 (group) or NaN (prob); a row without an expert (−1)
    /// has weight 0.
    struct Row {
        var token: Int32 = 0, layer: Int32 = 0, expert: Int32 = 0
        var weight: Float = 0
        var label: Int32 = -1, position: Int32 = -1, group: Int32 = 0, domain: Int32 = -1
        var prob: Float = .nan
        /// The 1-based line of the row in the file.
        var line = 0
    }

    /// One pass over the text: the header, then `body` for every data row in file order,
    /// with every cell checked (an expert must be below `expertLimit`; `given` says whether
    /// that limit is the user's expert count). Cells of the columns in `skipping` are not
    /// read (a later pass over text that an earlier pass checked; they keep their defaults).
    /// Returns the header, the number of rows and the text's size and CRC-32 (see
    /// ``CSVText/forEachChunk(_:)``).
    static func forEachRow(_ text: CSVText, file: String, expertLimit: Int, given: Bool, skipping: Set<Column> = [],
                           _ body: (Row) throws -> Void) throws -> (header: Header, rows: Int, count: Int, crc: UInt32) {
        var scanner = RowScanner(file: file, expertLimit: expertLimit, given: given, skipping: skipping)
        let (count, crc) = try text.forEachChunk { try scanner.scan($0, body) }
        guard let header = scanner.header else {
            throw InputError(file: file, location: "line 1",
                             message: "the file is empty; expected a header with the columns \(requiredColumns.joined(separator: ","))")
        }
        if scanner.rows == 0 {
            throw InputError(file: file, location: "line 2", message: "no data rows after the header")
        }
        return (header, scanner.rows, count, crc)
    }

    /// Reads a CSV chunk by chunk (each ending at a line end): the header from the first,
    /// then rows.
    struct RowScanner {
        let file: String
        let expertLimit: Int
        let given: Bool
        /// Columns whose cells are not read.
        let skipping: Set<Column>
        /// The header, once read.
        var header: Header?
        /// The last line read (1-based).
        var line = 0
        /// The data rows so far.
        var rows = 0
        var started = false

        init(file: String, expertLimit: Int, given: Bool, skipping: Set<Column>) {
            self.file = file
            self.expertLimit = expertLimit
            self.given = given
            self.skipping = skipping
        }

        /// Reads every line of `buffer`.
        mutating func scan(_ buffer: UnsafeBufferPointer<UInt8>, _ body: (Row) throws -> Void) throws {
            guard let b = buffer.baseAddress, buffer.count > 0 else { return }
            let end = buffer.count
            var p = 0
            if !started {
                started = true
                // A UTF-8 byte order mark, as Excel writes.
                if end >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { p = 3 }
            }
            if header == nil {
                var headerEnd = p
                while headerEnd < end && b[headerEnd] != 0x0A && b[headerEnd] != 0x0D { headerEnd += 1 }
                header = try readHeader(String(decoding: UnsafeBufferPointer(rebasing: buffer[p..<headerEnd]), as: UTF8.self))
                line = 1
                p = headerEnd
                if p < end && b[p] == 0x0D { p += 1 }
                if p < end && b[p] == 0x0A { p += 1 }
            }
            try scanRows(buffer, from: p, body)
        }

        /// The columns named by the header line `text`.
        func readHeader(_ text: String) throws -> Header {
            if text.trimmingCharacters(in: .whitespaces).isEmpty {
                throw InputError(file: file, location: "line 1",
                                 message: "no header; expected a header with the columns \(requiredColumns.joined(separator: ","))")
            }
            var header = Header()
            for (i, rawName) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
                let name = rawName.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                guard let column = Column(rawValue: name.lowercased()) else {
                    var message = "unknown column '\(name)' (column \(i + 1)); the columns are \((requiredColumns + optionalColumns).joined(separator: ", "))"
                    if name.isEmpty && i == 0 { message += " (a pandas index? write with index=False)" }
                    throw InputError(file: file, location: "line 1", message: message)
                }
                if header.columns.contains(column) {
                    throw InputError(file: file, location: "line 1", message: "column '\(name)' appears twice")
                }
                header.columns.append(column)
            }
            for required in requiredColumns where !header.columns.contains(Column(rawValue: required)!) {
                throw InputError(file: file, location: "line 1",
                                 message: "missing required column '\(required)'; the header is '\(text)'")
            }
            return header
        }

        /// Reads the rows of `buffer` from byte `start`, checking every cell.
        mutating func scanRows(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (Row) throws -> Void) throws {
            let b = buffer.baseAddress!
            let end = buffer.count
            var p = start
            let columns = header!.columns
            let columnCount = columns.count
            let read = columns.map { !skipping.contains($0) }
            let readsWeight = !skipping.contains(.weight)
            let expertLimit = self.expertLimit, given = self.given, file = self.file
            var line = self.line, rows = self.rows
            defer { self.line = line; self.rows = rows }
            var scratch = (Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0))
            try withUnsafeMutableBytes(of: &scratch) { raw in
                let scratch = raw.bindMemory(to: CChar.self)
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
                    var row = Row()
                    row.line = line
                    var weight: Float = .nan
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
                        if !read[c] { continue }
                        let column = columns[c]
                        switch column {
                        case .token, .layer, .expert, .label, .position, .group, .domain:
                            let optional = column == .label || column == .position || column == .domain
                            guard let value = parseInteger(b, s, e) else {
                                if optional && isBlank(b, s, e) { continue }
                                throw cellError(column, s, e, isBlank(b, s, e) ? "is empty, expected an integer" : "is not an integer")
                            }
                            switch column {
                            case .token:
                                guard value >= 0 && value < Int(Int32.max) - 1 else {
                                    throw cellError(column, s, e, "is not a token number in 0…\(Int32.max - 2)")
                                }
                                row.token = Int32(value)
                            case .layer:
                                guard value >= 0 && value <= Int(Int32.max) else {
                                    throw cellError(column, s, e, "is not a layer number in 0…\(Int32.max)")
                                }
                                row.layer = Int32(value)
                            case .expert:
                                if value < 0 {
                                    row.expert = -1
                                } else if value >= expertLimit {
                                    throw cellError(column, s, e, given
                                        ? "is not below the expert count \(expertLimit)"
                                        : "exceeds the largest expert count \(expertLimit - 1)")
                                } else {
                                    row.expert = Int32(value)
                                }
                            case .label:
                                guard value >= -1 && value < RoutingTrace.maximumClassCount else {
                                    throw cellError(column, s, e, "is not a class label in 0…\(RoutingTrace.maximumClassCount - 1) or −1 (unknown)")
                                }
                                row.label = Int32(value)
                            case .domain:
                                guard value >= 0 && value < RoutingTrace.maximumDomainCount else {
                                    throw cellError(column, s, e, "is not a domain in 0…\(RoutingTrace.maximumDomainCount - 1)")
                                }
                                row.domain = Int32(value)
                            case .group:
                                guard value >= 0 && value <= Int(Int32.max) else {
                                    throw cellError(column, s, e, "is not a routing group number in 0…\(Int32.max)")
                                }
                                row.group = Int32(value)
                            default:
                                guard value >= -1 && value <= Int(Int32.max) else {
                                    throw cellError(column, s, e, "is not a position ≥ 0 or −1 (unknown)")
                                }
                                row.position = Int32(value)
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
                            row.prob = value
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
                    if row.expert >= 0 && weight.isNaN && readsWeight {
                        throw InputError(file: file, location: "line \(line), column 'weight'",
                                         message: "'\(cellText(weightStart, weightEnd))' is empty; a row with an expert needs a combine weight")
                    }
                    row.weight = row.expert >= 0 ? weight : 0
                    rows += 1
                    try body(row)
                }
            }
        }
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
}
