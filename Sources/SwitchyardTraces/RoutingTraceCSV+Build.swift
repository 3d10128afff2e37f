import SwitchyardFileIO

/// Building a trace from a CSV in three passes over the text, so that memory holds the
/// trace's own arrays and one chunk of text, never the whole text or a copy per row
/// (docs/trace-format.md, "Memory"):
///
/// 1. survey: every cell checked; the layers, the largest token and expert, which experts
///    appear;
/// 2. counts: each (layer, token)'s number of assignments, the per-token label, position
///    and group (checked for agreement between rows), the top probabilities;
/// 3. fill: each assignment written straight into its layer's arrays.
///
/// A file is read again for each pass; its size and CRC-32 must stay the same (else the
/// file changed while it was read). Errors that name an earlier line (a conflicting label,
/// a repeated expert) find it with one more pass.
extension RoutingTraceCSV {
    static func build(_ text: CSVText, file: String, expertCount given: Int?) throws -> RoutingTrace {
        let builder = try Builder(text: text, file: file, given: given)
        let perToken = try builder.countAssignments()
        try builder.offsetsFromCounts()
        try builder.fillAssignments()
        try builder.refuseRepeatedExperts()
        return try builder.trace(perToken)
    }

    /// One CSV's build, phase by phase (see the extension's comment); `init` is pass 1.
    final class Builder {
        let text: CSVText
        let file: String
        let given: Int?
        let expertLimit: Int
        let header: Header
        let rowCount: Int
        /// Pass 1's assignment count and CRC-32, which every later pass must see again.
        let firstCount: Int
        let firstCRC: UInt32
        /// Block numbers in ascending order, and each one's layer index.
        let blockNumbers: [Int32]
        let layerOf: [Int32: Int]
        let tokenCount: Int
        let expertCount: Int
        var metadata: [String: String]
        var layerCount: Int { blockNumbers.count }
        /// Per layer: token offsets (counts, then cursors, then offsets), assignment totals,
        /// experts and weights.
        var offsets: [Storage<Int32>] = []
        var totals: [Int] = []
        var experts: [Storage<Int32>] = []
        var weights: [Storage<Float>] = []
        static let unseen = Int32.min

        /// The per-token values of pass 2.
        struct PerToken {
            var labels: Storage<Int32>?
            var positions: Storage<Int32>?
            var groups: Storage<Int32>?
            var domains: Storage<Int32>?
            /// Layer × token: the largest prob among the token's rows, −1 when none.
            var top: Storage<Float>?
        }

        /// Pass 1 (the survey) and the shape checks it allows.
        init(text: CSVText, file: String, given: Int?) throws {
            self.text = text
            self.file = file
            self.given = given
            expertLimit = given ?? RoutingTrace.maximumExpertCount
            var survey = Survey()
            let first = try forEachRow(text, file: file, expertLimit: expertLimit, given: given != nil) { survey.add($0) }
            header = first.header
            rowCount = first.rows
            firstCount = first.count
            firstCRC = first.crc
            blockNumbers = survey.layerIndex.keys.sorted()
            var layerOf: [Int32: Int] = [:]
            for (index, block) in blockNumbers.enumerated() { layerOf[block] = index }
            self.layerOf = layerOf
            tokenCount = Int(survey.maxToken) + 1
            // Tokens are numbered densely; a gap of over a million tokens with no row at all
            // is a mistake (and would allocate per-token arrays for nothing).
            if tokenCount > rowCount + (1 << 20) {
                throw InputError(file: file, location: "line \(survey.maxTokenLine), column 'token'",
                                 message: "token \(survey.maxToken) makes \(tokenCount) tokens for \(rowCount) rows; tokens must be numbered 0, 1, 2, … without large gaps")
            }
            // Every layer gets per-token arrays; so many layers × tokens for so few rows means
            // the layer or token numbers are wrong (and would allocate for nothing).
            let (cells, overflow) = blockNumbers.count.multipliedReportingOverflow(by: tokenCount + 1)
            if overflow || cells > 64 * rowCount + (1 << 24) {
                throw InputError(file: file, location: "column 'layer'",
                                 message: "\(blockNumbers.count) distinct layers × \(tokenCount) tokens for only \(rowCount) rows; check the layer and token numbers")
            }
            metadata = ["source": file, "sourceFormat": "csv"]
            if let given {
                expertCount = given
            } else {
                let (count, warning) = try ExpertCountInference.infer(
                    largest: Int(survey.maxExpert), seen: survey.expertSeen, file: file,
                    location: survey.maxExpert >= 0 ? "line \(survey.maxExpertLine), column 'expert'" : "column 'expert'")
                expertCount = count
                metadata["importWarnings"] = warning
            }
        }

        /// Another pass over the rows; its header, rows, count and CRC-32 must be pass 1's.
        func pass(skipping: Set<Column>, _ body: (Row) throws -> Void) throws {
            let pass = try forEachRow(text, file: file, expertLimit: expertLimit, given: given != nil, skipping: skipping, body)
            if pass.header != header || pass.rows != rowCount || pass.count != firstCount || pass.crc != firstCRC {
                throw changed()
            }
        }

        func changed() -> InputError {
            InputError(file: file, message: "the file changed while it was being read (each pass over it must read the same bytes); read it again when nothing is writing to it")
        }

        /// The lines of the first `limit` rows satisfying `predicate`.
        func lines(limit: Int, where predicate: (Row) -> Bool) throws -> [Int] {
            try firstLines(of: text, file: file, expertLimit: expertLimit, given: given != nil, limit: limit, where: predicate)
        }

        /// Pass 2: each (layer, token)'s number of assignments into `offsets[l][t + 1]`, the
        /// per-token label, position and group (every row of a token must agree), the top probabilities.
        func countAssignments() throws -> PerToken {
            let n = tokenCount, unseen = Self.unseen
            offsets = (0..<layerCount).map { _ in Storage<Int32>(count: n + 1, value: 0) }
            let values = PerToken(labels: header.hasLabel ? Storage<Int32>(count: n, value: unseen) : nil,
                                  positions: header.hasPosition ? Storage<Int32>(count: n, value: unseen) : nil,
                                  groups: header.hasGroup ? Storage<Int32>(count: n, value: unseen) : nil,
                                  domains: header.hasDomain ? Storage<Int32>(count: n, value: unseen) : nil,
                                  top: header.hasProb ? Storage<Float>(count: layerCount * n, value: -1) : nil)
            var conflict: (row: Row, name: String, earlier: Int32)?
            do {
                var lookup = LayerLookup(layerOf)
                let offsetPointers = offsets.map(\.pointer)
                let labelPointer = values.labels?.pointer, positionPointer = values.positions?.pointer
                let groupPointer = values.groups?.pointer, topPointer = values.top?.pointer
                let domainPointer = values.domains?.pointer
                // The value of a token that every row of it must repeat.
                func record(_ p: UnsafeMutablePointer<Int32>?, _ value: Int32, _ row: Row, _ name: String) throws {
                    guard let p else { return }
                    let t = Int(row.token)
                    if p[t] == unseen {
                        p[t] = value
                    } else if p[t] != value {
                        conflict = (row, name, p[t])
                        throw StopPass()
                    }
                }
                // Pass 1 checked every cell; the weights are read in pass 3.
                try pass(skipping: [.weight]) { row in
                    guard let l = lookup.index(row.layer), Int(row.token) < n else { throw changed() }
                    let t = Int(row.token)
                    if row.expert >= 0 {
                        let slot = offsetPointers[l] + t + 1
                        if slot.pointee == Int32.max {
                            throw InputError(file: file, location: "layer \(row.layer)", message: "more than \(Int32.max) assignments in one layer")
                        }
                        slot.pointee += 1
                    }
                    try record(labelPointer, row.label, row, "label")
                    try record(positionPointer, row.position, row, "position")
                    try record(groupPointer, row.group, row, "group")
                    try record(domainPointer, row.domain, row, "domain")
                    if let topPointer, !row.prob.isNaN {
                        let p = topPointer + l * n + t
                        if row.prob > p.pointee { p.pointee = row.prob }
                    }
                }
            } catch is StopPass {
                let (row, name, earlier) = conflict!
                let firstLine = try lines(limit: 1) { $0.token == row.token }.first ?? 0
                throw InputError(file: file, location: "line \(row.line), column '\(name)'",
                                 message: "token \(row.token) has \(name) \(["label": row.label, "position": row.position, "group": row.group, "domain": row.domain][name]!) here but \(earlier) on line \(firstLine)")
            }
            return values
        }

        /// Offsets from the counts. A token with more assignments in a layer than there are
        /// experts repeats one (found with its lines by ``refuseRepeatedExperts()`` when it fits
        /// in memory): refused before anything is allocated for it, so that a gzip bomb of one
        /// repeated row costs no memory.
        func offsetsFromCounts() throws {
            let n = tokenCount
            totals = [Int](repeating: 0, count: layerCount)
            for l in 0..<layerCount {
                let o = offsets[l].pointer
                var total = 0
                for t in 0..<n {
                    if Int(o[t + 1]) > expertCount && Int(o[t + 1]) > 1 << 16 {
                        throw InputError(file: file, location: "layer \(blockNumbers[l]), token \(t)",
                                         message: "\(o[t + 1]) rows assign the token to an expert, more than the \(expertCount) experts: the same expert repeats")
                    }
                    total += Int(o[t + 1])
                    if total > Int(Int32.max) {
                        throw InputError(file: file, location: "layer \(blockNumbers[l])", message: "more than \(Int32.max) assignments in one layer")
                    }
                    o[t + 1] = Int32(total)
                }
                totals[l] = total
            }
        }

        /// Pass 3: each assignment written straight into its layer's arrays; the offsets end
        /// as offsets again.
        func fillAssignments() throws {
            let n = tokenCount, totals = totals
            experts = totals.map { Storage<Int32>(count: $0, value: 0) }
            weights = totals.map { Storage<Float>(count: $0, value: 0) }
            var lookup = LayerLookup(layerOf)
            let offsetPointers = offsets.map(\.pointer)
            let expertPointers = experts.map(\.pointer), weightPointers = weights.map(\.pointer)
            try pass(skipping: [.label, .position, .group, .domain, .prob]) { row in
                guard row.expert >= 0 else { return }
                guard let l = lookup.index(row.layer), Int(row.token) < n else { throw changed() }
                // offsets[t] is token t's next free slot while filling.
                let cursor = offsetPointers[l] + Int(row.token)
                let slot = Int(cursor.pointee)
                guard slot < totals[l] else { throw changed() }
                expertPointers[l][slot] = row.expert
                weightPointers[l][slot] = row.weight
                cursor.pointee += 1
            }
            // Each cursor now holds the next token's start: shift them back into offsets.
            for l in 0..<layerCount {
                let o = offsets[l].pointer
                var t = n
                while t > 0 { o[t] = o[t - 1]; t -= 1 }
                o[0] = 0
            }
        }

        /// The same expert twice for one token in one layer, named by its two lines.
        func refuseRepeatedExperts() throws {
            for l in 0..<layerCount {
                var scratch: [Int32] = []
                let layerExperts = UnsafeBufferPointer(start: experts[l].pointer, count: totals[l])
                let o = offsets[l].pointer
                for t in 0..<tokenCount {
                    let from = Int(o[t]), to = Int(o[t + 1])
                    guard to - from > 1, let d = LayerRouting.duplicate(in: layerExperts, from: from, to: to, scratch: &scratch) else { continue }
                    let block = blockNumbers[l], expert = layerExperts[d]
                    let found = try lines(limit: 2) { $0.token == Int32(t) && $0.layer == block && $0.expert == expert }
                    throw InputError(file: file, location: "line \(found.count > 1 ? found[1] : found.first ?? 0)",
                                     message: "token \(t), layer \(block), expert \(expert) appears again (first on line \(found.first ?? 0))")
                }
            }
        }

        /// The trace: per-token values (tokens without a row get −1), routing groups, each
        /// layer's arrays and top probability; validated.
        func trace(_ perToken: PerToken) throws -> RoutingTrace {
            let n = tokenCount
            func values(_ storage: Storage<Int32>?) -> [Int32]? {
                guard let storage else { return nil }
                let p = storage.pointer
                for t in 0..<n where p[t] == Self.unseen { p[t] = -1 }
                return storage.array()
            }
            let labelValues = values(perToken.labels)
            let classCount = labelValues.map { Int(($0.max() ?? -1) + 1) } ?? 0
            var routingGroups: [Int]? = nil
            if let ids = values(perToken.groups) {
                // A token with no row has no group (−1): the ids then fail below.
                switch RoutingTrace.routingGroups(fromTokenGroups: ids) {
                case .success(let sizes): routingGroups = sizes
                case .failure(let error):
                    let line = try lines(limit: 1) { Int($0.token) == error.token }.first
                    throw InputError(file: file, location: line.map { "line \($0), column 'group'" } ?? "token \(error.token)",
                                     message: line == nil ? "token \(error.token) has no row, so no routing group" : "token \(error.token): \(error.message)")
                }
            }
            var notes: [String] = []
            var layers: [LayerRouting] = []
            for l in 0..<layerCount {
                // Top probability: the largest prob among a token's rows in the layer.
                var topProbability: [Float]? = nil
                if let top = perToken.top {
                    let values = Array(UnsafeBufferPointer(start: top.pointer + l * n, count: n))
                    let missing = values.reduce(0) { $0 + ($1 < 0 ? 1 : 0) }
                    if missing == 0 {
                        topProbability = values
                    } else if missing < n {
                        notes.append("layer \(blockNumbers[l]): no top probability, \(missing) of \(n) tokens have no prob (write a row with expert -1 for dropped tokens)")
                    }
                }
                layers.append(LayerRouting(layer: Int(blockNumbers[l]), offsets: offsets[l].array(),
                                           experts: experts[l].array(), weights: weights[l].array(),
                                           topProbability: topProbability))
                // Each layer's working copy is freed as soon as its arrays exist.
                offsets[l] = Storage(count: 0, value: 0)
                experts[l] = Storage(count: 0, value: 0)
                weights[l] = Storage(count: 0, value: 0)
            }
            var metadata = metadata
            if !notes.isEmpty { metadata["importNotes"] = notes.joined(separator: "; ") }
            var trace = RoutingTrace(expertCount: expertCount, tokenCount: tokenCount, labels: labelValues,
                                     positions: values(perToken.positions), classCount: classCount, layers: layers,
                                     routingGroups: routingGroups, metadata: metadata)
            if let domains = values(perToken.domains) {
                if let t = domains.firstIndex(of: -1) {
                    let line = try lines(limit: 1) { Int($0.token) == t }.first
                    throw InputError(file: file, location: line.map { "line \($0), column 'domain'" } ?? "token \(t)",
                                     message: line == nil ? "token \(t) has no row, so no domain" : "token \(t) has no domain; with a domain column every token needs one")
                }
                trace.domains = domains
            }
            try trace.validate(file: file)
            return trace
        }
    }

    /// The lines of the first `limit` rows satisfying `predicate` (one more pass; for
    /// error messages).
    static func firstLines(of text: CSVText, file: String, expertLimit: Int, given: Bool, limit: Int,
                           where predicate: (Row) -> Bool) throws -> [Int] {
        var lines: [Int] = []
        do {
            _ = try forEachRow(text, file: file, expertLimit: expertLimit, given: given) { row in
                guard predicate(row) else { return }
                lines.append(row.line)
                if lines.count >= limit { throw StopPass() }
            }
        } catch is StopPass {}
        return lines
    }

    /// Ends a pass early.
    struct StopPass: Error {}

    /// What pass 1 learns.
    struct Survey {
        /// Block number → order of first appearance.
        var layerIndex: [Int32: Int] = [:]
        var lastLayer: Int32 = -1
        var maxToken: Int32 = -1, maxTokenLine = 0
        var maxExpert: Int32 = -1, maxExpertLine = 0
        /// Which experts appear, indexed by expert.
        var expertSeen: [Bool] = []

        mutating func add(_ row: Row) {
            if row.layer != lastLayer {
                if layerIndex[row.layer] == nil { layerIndex[row.layer] = layerIndex.count }
                lastLayer = row.layer
            }
            if row.token > maxToken { maxToken = row.token; maxTokenLine = row.line }
            if row.expert >= 0 {
                if row.expert > maxExpert {
                    maxExpert = row.expert
                    maxExpertLine = row.line
                    if expertSeen.count <= Int(row.expert) {
                        expertSeen.append(contentsOf: repeatElement(false, count: max(Int(row.expert) + 1, 2 * expertSeen.count) - expertSeen.count))
                    }
                }
                expertSeen[Int(row.expert)] = true
            }
        }
    }

    /// Block number → layer entry, remembering the last lookup (rows of one layer
    /// usually come together).
    struct LayerLookup {
        let table: [Int32: Int]
        var lastBlock: Int32 = -1
        var lastIndex = 0
        init(_ table: [Int32: Int]) { self.table = table }

        mutating func index(_ block: Int32) -> Int? {
            if block == lastBlock { return lastIndex }
            guard let index = table[block] else { return nil }
            lastBlock = block
            lastIndex = index
            return index
        }
    }

    /// A fixed-size working array that pass closures write through a pointer.
    final class Storage<T> {
        let pointer: UnsafeMutablePointer<T>
        let count: Int
        init(count: Int, value: T) {
            self.count = count
            pointer = .allocate(capacity: max(count, 1))
            pointer.initialize(repeating: value, count: count)
        }
        deinit {
            pointer.deinitialize(count: count)
            pointer.deallocate()
        }
        /// The values as an array (a copy).
        func array() -> [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    }
}
