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
        let expertLimit = given ?? RoutingTrace.maximumExpertCount
        func eachRow(skipping: Set<Column> = [], _ body: (Row) throws -> Void) throws -> (header: Header, rows: Int, count: Int, crc: UInt32) {
            try forEachRow(text, file: file, expertLimit: expertLimit, given: given != nil, skipping: skipping, body)
        }

        var survey = Survey()
        let first = try eachRow { survey.add($0) }
        let header = first.header, rowCount = first.rows
        func changed() -> InputError {
            InputError(file: file, message: "the file changed while it was being read (each pass over it must read the same bytes); read it again when nothing is writing to it")
        }
        func checkSameText(_ pass: (header: Header, rows: Int, count: Int, crc: UInt32)) throws {
            if pass.header != header || pass.rows != rowCount || pass.count != first.count || pass.crc != first.crc { throw changed() }
        }

        let blockNumbers = survey.layerIndex.keys.sorted()
        var layerOf: [Int32: Int] = [:]
        for (index, block) in blockNumbers.enumerated() { layerOf[block] = index }
        let tokenCount = Int(survey.maxToken) + 1
        // Tokens are numbered densely; a gap of over a million tokens with no row at all
        // is a mistake (and would allocate per-token arrays for nothing).
        if tokenCount > rowCount + (1 << 20) {
            throw InputError(file: file, location: "line \(survey.maxTokenLine), column 'token'",
                             message: "token \(survey.maxToken) makes \(tokenCount) tokens for \(rowCount) rows; tokens must be numbered 0, 1, 2, … without large gaps")
        }
        // Every layer gets per-token arrays; so many layers × tokens for so few rows means
        // the layer or token numbers are wrong (and would allocate for nothing).
        let layerCount = blockNumbers.count
        let (cells, overflow) = layerCount.multipliedReportingOverflow(by: tokenCount + 1)
        if overflow || cells > 64 * rowCount + (1 << 24) {
            throw InputError(file: file, location: "column 'layer'",
                             message: "\(layerCount) distinct layers × \(tokenCount) tokens for only \(rowCount) rows; check the layer and token numbers")
        }
        var metadata = ["source": file, "sourceFormat": "csv"]
        let expertCount: Int
        if let given {
            expertCount = given
        } else {
            let (count, warning) = try ExpertCountInference.infer(
                largest: Int(survey.maxExpert), seen: survey.expertSeen, file: file,
                location: survey.maxExpert >= 0 ? "line \(survey.maxExpertLine), column 'expert'" : "column 'expert'")
            expertCount = count
            metadata["importWarnings"] = warning
        }

        // Pass 2.
        let n = tokenCount, stride = n + 1
        let layerLookup = LayerLookup(layerOf)
        var offsets = (0..<layerCount).map { _ in Storage<Int32>(count: stride, value: 0) }
        let unseen = Int32.min
        let labels = header.hasLabel ? Storage<Int32>(count: n, value: unseen) : nil
        let positions = header.hasPosition ? Storage<Int32>(count: n, value: unseen) : nil
        let groups = header.hasGroup ? Storage<Int32>(count: n, value: unseen) : nil
        let top = header.hasProb ? Storage<Float>(count: layerCount * n, value: -1) : nil
        var conflict: (row: Row, name: String, earlier: Int32)?
        do {
            var lookup = layerLookup
            let offsetPointers = offsets.map(\.pointer)
            let labelPointer = labels?.pointer, positionPointer = positions?.pointer, groupPointer = groups?.pointer
            let topPointer = top?.pointer
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
            let second = try eachRow(skipping: [.weight]) { row in
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
                if let topPointer, !row.prob.isNaN {
                    let p = topPointer + l * n + t
                    if row.prob > p.pointee { p.pointee = row.prob }
                }
            }
            try checkSameText(second)
        } catch is StopPass {
            let (row, name, earlier) = conflict!
            let firstLine = try firstLines(of: text, file: file, expertLimit: expertLimit, given: given != nil, limit: 1) { $0.token == row.token }.first ?? 0
            throw InputError(file: file, location: "line \(row.line), column '\(name)'",
                             message: "token \(row.token) has \(name) \(name == "label" ? row.label : name == "position" ? row.position : row.group) here but \(earlier) on line \(firstLine)")
        }

        // Offsets from the counts; then each layer's arrays, filled by pass 3. A token with
        // more assignments in a layer than there are experts repeats one (found with its
        // lines below when it fits in memory): refused before anything is allocated for it,
        // so that a gzip bomb of one repeated row costs no memory.
        var totals = [Int](repeating: 0, count: layerCount)
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
        var experts = totals.map { Storage<Int32>(count: $0, value: 0) }
        var weights = totals.map { Storage<Float>(count: $0, value: 0) }
        do {
            var lookup = layerLookup
            let offsetPointers = offsets.map(\.pointer)
            let expertPointers = experts.map(\.pointer), weightPointers = weights.map(\.pointer)
            let third = try eachRow(skipping: [.label, .position, .group, .prob]) { row in
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
            try checkSameText(third)
        }
        // Each cursor now holds the next token's start: shift them back into offsets.
        for l in 0..<layerCount {
            let o = offsets[l].pointer
            var t = n
            while t > 0 { o[t] = o[t - 1]; t -= 1 }
            o[0] = 0
        }

        // The same expert twice for one token in one layer.
        for l in 0..<layerCount {
            var scratch: [Int32] = []
            let layerExperts = UnsafeBufferPointer(start: experts[l].pointer, count: totals[l])
            let o = offsets[l].pointer
            for t in 0..<n {
                let from = Int(o[t]), to = Int(o[t + 1])
                guard to - from > 1, let d = LayerRouting.duplicate(in: layerExperts, from: from, to: to, scratch: &scratch) else { continue }
                let block = blockNumbers[l], expert = layerExperts[d]
                let lines = try firstLines(of: text, file: file, expertLimit: expertLimit, given: given != nil, limit: 2) {
                    $0.token == Int32(t) && $0.layer == block && $0.expert == expert
                }
                throw InputError(file: file, location: "line \(lines.count > 1 ? lines[1] : lines.first ?? 0)",
                                 message: "token \(t), layer \(block), expert \(expert) appears again (first on line \(lines.first ?? 0))")
            }
        }

        // Per-token values: tokens without a row get −1.
        func perToken(_ storage: Storage<Int32>?) -> [Int32]? {
            guard let storage else { return nil }
            let p = storage.pointer
            for t in 0..<n where p[t] == unseen { p[t] = -1 }
            return storage.array()
        }
        let labelValues = perToken(labels)
        let positionValues = perToken(positions)
        let classCount = labelValues.map { Int(($0.max() ?? -1) + 1) } ?? 0
        var routingGroups: [Int]? = nil
        if let ids = perToken(groups) {
            // A token with no row has no group (−1): the ids then fail below.
            switch RoutingTrace.routingGroups(fromTokenGroups: ids) {
            case .success(let sizes): routingGroups = sizes
            case .failure(let error):
                let line = try firstLines(of: text, file: file, expertLimit: expertLimit, given: given != nil, limit: 1) {
                    Int($0.token) == error.token
                }.first
                throw InputError(file: file, location: line.map { "line \($0), column 'group'" } ?? "token \(error.token)",
                                 message: line == nil ? "token \(error.token) has no row, so no routing group" : "token \(error.token): \(error.message)")
            }
        }

        // Top probability: the largest prob among a token's rows in the layer.
        var notes: [String] = []
        var layers: [LayerRouting] = []
        for l in 0..<layerCount {
            var topProbability: [Float]? = nil
            if let top {
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
        if !notes.isEmpty { metadata["importNotes"] = notes.joined(separator: "; ") }
        let trace = RoutingTrace(expertCount: expertCount, tokenCount: tokenCount, labels: labelValues,
                                 positions: positionValues, classCount: classCount, layers: layers,
                                 routingGroups: routingGroups, metadata: metadata)
        try trace.validate(file: file)
        return trace
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
