import SwitchyardFileIO

/// A uniform sample of a trace CSV's units, drawn in one pass over the file with memory
/// bounded by the sample, and the whole file's loads counted in the same pass
/// (docs/trace-format.md, "Memory").
public struct TraceSample: Sendable {
    /// The sampled units as a trace: tokens renumbered 0, 1, 2, … in file order, routing
    /// groups kept whole (and renumbered), every kept row as it was.
    public var trace: RoutingTrace
    /// What a unit is: "token", or "routing group" when the file has a `group` column.
    public var unitName: String
    /// Units in the file, and kept in the sample.
    public var unitsInFile: Int
    public var unitsKept: Int
    /// Every row of the file, counted as it streamed past: tokens (largest token + 1),
    /// block numbers in increasing order, and per block the assignments of each expert and
    /// the tokens with at least one expert.
    public var tokensInFile: Int
    public var blockNumbers: [Int]
    public var expertCounts: [[Int]]
    public var tokensWithExpert: [Int]
    /// Rows in the file.
    public var rows: Int
}

/// Stops the pass that reads only the header.
private struct HeaderRead: Error {}

extension RoutingTraceCSV {
    /// Draws `units` whole units (routing groups when the file has a `group` column, else
    /// tokens) uniformly without replacement from a trace CSV sorted by token, by reservoir
    /// sampling (Vitter 1985, Algorithm R), in one pass; memory holds the kept units' rows
    /// and one chunk of text, whatever the file's size. Every cell is checked as by
    /// ``read(_:expertCount:)``. The rows must be sorted by token (as Switchyard and the
    /// exporters write them) with group numbers increasing along the tokens; a file out of
    /// that order is an error naming the line.
    public static func sample<G: RandomNumberGenerator>(_ path: String, expertCount given: Int? = nil, units: Int,
                                                        using generator: inout G) throws -> TraceSample {
        try sample(.file(path, chunkSize: CSVText.chunkSize), file: path, expertCount: given, units: units, using: &generator)
    }

    /// ``sample(_:expertCount:units:using:)`` of CSV bytes in memory (tests).
    public static func sample<G: RandomNumberGenerator>(bytes: [UInt8], file: String, expertCount given: Int? = nil, units: Int,
                                                        using generator: inout G) throws -> TraceSample {
        try bytes.withUnsafeBufferPointer {
            try sample(.bytes($0), file: file, expertCount: given, units: units, using: &generator)
        }
    }

    /// The most rows one unit of a sample may have (40 bytes each: 640 MiB).
    static let maximumUnitRows = 1 << 24

    static func sample<G: RandomNumberGenerator>(_ text: CSVText, file: String, expertCount given: Int?, units capacity: Int,
                                                 using generator: inout G) throws -> TraceSample {
        try checkExpertCount(given, file: file)
        guard capacity >= 1 else {
            throw InputError(file: file, location: "sample size", message: "\(capacity) units; a sample needs at least 1")
        }
        let expertLimit = given ?? RoutingTrace.maximumExpertCount
        // The header first (one chunk), to know whether units are routing groups.
        var peek = RowScanner(file: file, expertLimit: expertLimit, given: given != nil, skipping: [])
        do { try text.forEachChunk { try peek.scan($0) { _ in throw HeaderRead() } } } catch is HeaderRead {}
        let byGroup = peek.header?.hasGroup ?? false

        var survey = Survey()
        // Per block (in order of first assignment): each expert's assignments, and the tokens
        // with at least one.
        var blockIndex: [Int32: Int] = [:]
        var lastBlock: Int32 = .min, blockSlot = 0
        var counts: [[Int]] = []
        var withExpert: [Int] = []
        // The last token counted in `withExpert`, per block (a token's rows are consecutive).
        var countedToken: [Int32] = []
        var reservoir: [[Row]] = []
        var current: [Row] = []
        var unitsSeen = 0
        var unitKey: Int32 = -1, lastToken: Int32 = -1

        func close() {
            guard !current.isEmpty else { return }
            if reservoir.count < capacity {
                reservoir.append(current)
            } else {
                let j = Int.random(in: 0..<unitsSeen, using: &generator)
                if j < capacity { reservoir[j] = current }
            }
            current.removeAll(keepingCapacity: true)
        }
        let scanned = try forEachRow(text, file: file, expertLimit: expertLimit, given: given != nil) { row in
            survey.add(row)
            if row.token != lastToken {
                if row.token < lastToken {
                    throw InputError(file: file, location: "line \(row.line), column 'token'",
                                     message: "token \(row.token) after token \(lastToken); a sample is drawn in one pass and needs the rows sorted by token (e.g. sort -t, -k1,1n -s after the header)")
                }
                lastToken = row.token
            }
            if row.expert >= 0 {
                if row.layer != lastBlock {
                    lastBlock = row.layer
                    if let index = blockIndex[row.layer] { blockSlot = index } else {
                        blockSlot = counts.count
                        blockIndex[row.layer] = blockSlot
                        counts.append([])
                        withExpert.append(0)
                        countedToken.append(-1)
                    }
                }
                let e = Int(row.expert)
                if counts[blockSlot].count <= e {
                    counts[blockSlot].append(contentsOf: repeatElement(0, count: e + 1 - counts[blockSlot].count))
                }
                counts[blockSlot][e] += 1
                if countedToken[blockSlot] != row.token {
                    countedToken[blockSlot] = row.token
                    withExpert[blockSlot] += 1
                }
            }
            let unit = byGroup ? row.group : row.token
            if unit != unitKey {
                if byGroup && !current.isEmpty && current[current.count - 1].token == row.token {
                    throw InputError(file: file, location: "line \(row.line), column 'group'",
                                     message: "token \(row.token) is in group \(row.group) here and in group \(unitKey) on line \(current[current.count - 1].line); every row of a token names the same group")
                }
                if unit < unitKey {
                    throw InputError(file: file, location: "line \(row.line), column 'group'",
                                     message: "group \(row.group) after group \(unitKey); a sample keeps routing groups whole and needs group numbers that increase along the tokens")
                }
                close()
                unitsSeen += 1
                unitKey = unit
            }
            guard current.count < maximumUnitRows else {
                throw InputError(file: file, location: "line \(row.line), column 'group'",
                                 message: "routing group \(row.group) has more than \(maximumUnitRows) rows; a sample keeps groups whole, so memory would grow with the group (leave out the group column to sample tokens)")
            }
            current.append(row)
        }
        close()

        let expertCount: Int
        var warning: String?
        if let given {
            expertCount = given
        } else {
            (expertCount, warning) = try ExpertCountInference.infer(
                largest: Int(survey.maxExpert), seen: survey.expertSeen, file: file,
                location: survey.maxExpert >= 0 ? "line \(survey.maxExpertLine), column 'expert'" : "column 'expert'")
        }
        let blocks = survey.layerIndex.keys.sorted()
        let expertCounts = blocks.map { block -> [Int] in
            let c = blockIndex[block].map { counts[$0] } ?? []
            return c + [Int](repeating: 0, count: expertCount - c.count)
        }

        // The kept units in file order, written as a CSV and read back: the sample is checked
        // and built exactly as a file of those rows would be.
        reservoir.sort { $0[0].token < $1[0].token }
        let header = scanned.header
        let bytes = encodeSample(reservoir, header: header)
        let trace: RoutingTrace
        do {
            trace = try bytes.withUnsafeBufferPointer { try build(.bytes($0), file: file, expertCount: expertCount) }
        } catch let error as InputError {
            throw InputError(file: file, location: "the sampled rows",
                             message: "\(error.message) (line numbers count the \(reservoir.count) sampled units' rows, not the file's)")
        }
        var result = trace
        result.metadata["importWarnings"] = warning
        result.metadata["sample"] = "\(reservoir.count) of \(unitsSeen) \(byGroup ? "routing groups" : "tokens"), drawn uniformly (reservoir sampling)"
        return TraceSample(trace: result, unitName: byGroup ? "routing group" : "token",
                           unitsInFile: unitsSeen, unitsKept: reservoir.count,
                           tokensInFile: Int(survey.maxToken) + 1, blockNumbers: blocks.map { Int($0) },
                           expertCounts: expertCounts, tokensWithExpert: blocks.map { blockIndex[$0].map { withExpert[$0] } ?? 0 },
                           rows: scanned.rows)
    }

    /// The rows of `units` as CSV text with the header's columns, tokens and groups
    /// renumbered densely in order.
    static func encodeSample(_ units: [[Row]], header: Header) -> [UInt8] {
        var out: [UInt8] = []
        let columns = header.columns
        out.append(contentsOf: (columns.map(\.rawValue).joined(separator: ",") + "\n").utf8)
        var token: Int32 = -1, lastToken: Int32 = -1
        for (g, unit) in units.enumerated() {
            lastToken = -1
            for row in unit {
                if row.token != lastToken { token += 1; lastToken = row.token }
                for (i, column) in columns.enumerated() {
                    if i > 0 { out.append(0x2C) }
                    switch column {
                    case .token: out.append(contentsOf: String(token).utf8)
                    case .layer: out.append(contentsOf: String(row.layer).utf8)
                    case .expert: out.append(contentsOf: String(row.expert).utf8)
                    case .weight: if row.expert >= 0 { out.append(contentsOf: row.weight.description.utf8) }
                    case .label: out.append(contentsOf: String(row.label).utf8)
                    case .position: out.append(contentsOf: String(row.position).utf8)
                    case .prob: if !row.prob.isNaN { out.append(contentsOf: row.prob.description.utf8) }
                    case .group: out.append(contentsOf: String(g).utf8)
                    case .domain: if row.domain >= 0 { out.append(contentsOf: String(row.domain).utf8) }
                    }
                }
                out.append(0x0A)
            }
        }
        return out
    }
}
