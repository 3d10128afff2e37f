import SwitchyardFileIO
import Foundation

/// The arrays of an NPY trace directory (``RoutingTraceNPY``), opened and checked but not read:
/// shapes, the expert count and `meta.json`. Any range of tokens can then be read as a trace of
/// its own, which is how ``RoutingTraceNPY/read(directory:expertCount:maximumKeptProbabilities:)``
/// reads a whole trace and how the one-pass analysis (`analyze --stream`) reads one chunk at a time.
public struct NPYTraceSource {
    public let directory: String
    /// Tokens, layers and slots per token of `experts.npy`, and experts per layer.
    public let tokenCount: Int
    public let layerCount: Int
    public let slots: Int
    public let expertCount: Int
    /// `importWarnings` when the expert count was inferred.
    public let inferenceWarning: String?
    /// The exporter's meta.json beside the arrays, and its path.
    public let exportMetadata: ExportMetadata?
    public let metadataPath: String
    let experts: NPYArray
    let weights: NPYArray?
    let probabilities: NPYArray?
    let labels: NPYArray?
    let positions: NPYArray?
    let groups: NPYArray?
    let domains: NPYArray?
    let sharedGate: NPYArray?

    public var hasWeights: Bool { weights != nil }
    public var hasLabels: Bool { labels != nil }
    public var hasPositions: Bool { positions != nil }
    public var hasGroups: Bool { groups != nil }
    public var hasDomains: Bool { domains != nil }
    /// Values in `probs.npy` (0 without it).
    public var probabilityValues: Int { probabilities.map { _ in layerCount * tokenCount * expertCount } ?? 0 }

    /// Opens `directory`, which must hold `experts.npy`, and checks every array's shape.
    /// `expertCount` fixes the number of experts; nil takes the `experts` of `meta.json`, else the
    /// last dimension of `probs.npy`, else the largest expert + 1 within ``ExpertCountInference``'s
    /// bound (a first pass over `experts.npy`).
    public init(directory: String, expertCount given: Int?) throws {
        self.directory = directory
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func optional(_ name: String) throws -> NPYArray? {
            FileManager.default.fileExists(atPath: path(name)) ? try NPYArray.open(path(name)) : nil
        }
        let expertsPath = path("experts.npy")
        guard FileManager.default.fileExists(atPath: expertsPath) else {
            throw InputError(file: directory, message: "no experts.npy in the directory (expected \(RoutingTraceNPY.fileNames.joined(separator: ", ")))")
        }
        if let given, given < 1 || given > RoutingTrace.maximumExpertCount {
            throw InputError(file: directory, message: "expert count \(given) is outside 1…\(RoutingTrace.maximumExpertCount)")
        }
        metadataPath = path("meta.json")
        exportMetadata = FileManager.default.fileExists(atPath: metadataPath) ? try ExportMetadata.read(metadataPath) : nil
        let stated = exportMetadata?.experts
        if given == nil, let stated, stated > RoutingTrace.maximumExpertCount {
            throw InputError(file: metadataPath, location: "field 'experts'", message: "\(stated) experts exceed the limit of \(RoutingTrace.maximumExpertCount)")
        }
        let expertsArray = try NPYArray.open(expertsPath)
        experts = expertsArray
        weights = try optional("weights.npy")
        probabilities = try optional("probs.npy")
        labels = try optional("labels.npy")
        positions = try optional("positions.npy")
        groups = try optional("groups.npy")
        domains = try optional("domains.npy")
        sharedGate = try optional("shared_gate.npy")

        let shape = expertsArray.shape
        guard shape.count == 2 || shape.count == 3 else {
            throw InputError(file: expertsPath, message: "shape \(shape) has \(shape.count) dimensions, expected 2 (tokens × k) or 3 (layers × tokens × k)")
        }
        let layerCount = shape.count == 3 ? shape[0] : 1
        let tokenCount = shape[shape.count - 2]
        let k = shape[shape.count - 1]
        guard layerCount >= 1, tokenCount >= 1, k >= 1 else {
            throw InputError(file: expertsPath, message: "shape \(shape) is empty; expected at least one layer, token and slot")
        }
        guard tokenCount < Int(Int32.max) else {
            throw InputError(file: expertsPath, message: "\(tokenCount) tokens do not fit 32-bit offsets")
        }
        (self.layerCount, self.tokenCount, slots) = (layerCount, tokenCount, k)
        if let w = weights, w.shape != shape {
            throw InputError(file: w.file, message: "shape \(w.shape) differs from experts.npy's \(shape)")
        }
        var probCount = 0
        if let p = probabilities {
            let ok = (p.shape.count == 3 && p.shape[0] == layerCount && p.shape[1] == tokenCount)
                || (p.shape.count == 2 && layerCount == 1 && shape.count == 2 && p.shape[0] == tokenCount)
            guard ok, let e = p.shape.last, e >= 1 else {
                let expected = shape.count == 3 ? "\(layerCount) × \(tokenCount) × E" : "\(tokenCount) × E"
                throw InputError(file: p.file, message: "shape \(p.shape) does not match experts.npy's \(shape); expected \(expected)")
            }
            probCount = e
            if let given, given != e {
                throw InputError(file: p.file, message: "\(e) experts per row, but the expert count is given as \(given)")
            }
            if given == nil, let stated, stated != e {
                throw InputError(file: metadataPath, location: "field 'experts'", message: "\(stated) experts, but the arrays have \(e)")
            }
            if e > RoutingTrace.maximumExpertCount {
                throw InputError(file: p.file, message: "\(e) experts exceed the limit of \(RoutingTrace.maximumExpertCount)")
            }
        }
        if let g = sharedGate, g.shape != (shape.count == 3 ? [layerCount, tokenCount] : [tokenCount]) {
            throw InputError(file: g.file, message: "shape \(g.shape), expected \(shape.count == 3 ? "(\(layerCount), \(tokenCount))" : "(\(tokenCount),)"): one gate per layer and token of experts.npy")
        }
        for a in [labels, positions, groups, domains].compactMap({ $0 }) where a.shape != [tokenCount] {
            throw InputError(file: a.file, message: "shape \(a.shape), expected (\(tokenCount),): one value per token of experts.npy")
        }

        // Experts: the count (a first pass over the file).
        var largest = -1, largestAt = 0
        var seen = [Bool](repeating: false, count: RoutingTrace.maximumExpertCount)
        try expertsArray.forEachIntegerChunk(0..<expertsArray.count, role: "expert indices") { first, values in
            for (i, x) in values.enumerated() {
                if x > largest { largest = x; largestAt = first + i }
                if x >= 0 && x < RoutingTrace.maximumExpertCount { seen[x] = true }
            }
        }
        var inferenceWarning: String? = nil
        if let count = given ?? stated {
            expertCount = count
        } else if probabilities != nil {
            expertCount = probCount
        } else {
            guard largest >= 0 else {
                throw InputError(file: expertsPath, message: "every slot is negative (no assignment), so the expert count is unknown; give it explicitly")
            }
            guard largest < RoutingTrace.maximumExpertCount else {
                throw InputError(file: expertsPath, location: expertsArray.describeElement(largestAt),
                                 message: "expert \(largest) exceeds the limit of \(RoutingTrace.maximumExpertCount - 1)")
            }
            (expertCount, inferenceWarning) = try ExpertCountInference.infer(
                largest: largest, seen: Array(seen[0...largest]), file: expertsPath,
                location: expertsArray.describeElement(largestAt))
        }
        self.inferenceWarning = inferenceWarning
        if largest >= expertCount {
            var (at, value) = (largestAt, largest)
            let count = expertCount
            try expertsArray.forEachIntegerChunk(0..<largestAt, role: "expert indices") { first, values in
                if at == largestAt, let i = values.firstIndex(where: { $0 >= count }) { (at, value) = (first + i, values[i]) }
            }
            let source = given != nil ? "the given expert count" : stated != nil ? "the expert count of meta.json ('experts')"
                : "the expert count of probs.npy"
            throw InputError(file: expertsPath, location: expertsArray.describeElement(at),
                             message: "expert \(value) is not below \(source), \(expertCount)")
        }
    }

    /// The routing of every layer for the tokens `range`, numbered from 0: experts and weights,
    /// shared-expert gates, and with `probs.npy` each token's top probability, preferred expert and
    /// entropy (and the full probabilities when `keepProbabilities`). Layers are numbered 0…L−1
    /// (``ExportMetadata/annotate(_:)`` gives block numbers). Also returns, per layer, a note when
    /// its probabilities do not sum to 1 (no entropy then). `rowsPerChunk` nil reads about
    /// 256 KiB of experts or 1 MiB of probabilities at a time.
    public func layers(_ range: Range<Int>, keepProbabilities: Bool,
                       rowsPerChunk: Int? = nil) throws -> (layers: [LayerRouting], notes: [String?]) {
        var layers: [LayerRouting] = []
        var notes = [String?](repeating: nil, count: layerCount)
        for l in 0..<layerCount {
            var layer = try readLayer(l, range, rowsPerChunk: rowsPerChunk ?? max(1, (1 << 16) / slots))
            if let sharedGate {
                let flat = (l * tokenCount + range.lowerBound)..<(l * tokenCount + range.upperBound)
                var gates: [Float] = []
                gates.reserveCapacity(range.count)
                try sharedGate.forEachFloatChunk(flat, role: "shared-expert gates") { first, values in
                    if let bad = LayerRouting.firstOutside(values, 0, 1) {
                        throw InputError(file: sharedGate.file, location: sharedGate.describeElement(first + bad),
                                         message: "shared-expert gate \(values[bad]) is not a finite number in [0, 1]")
                    }
                    gates.append(contentsOf: values)
                }
                layer.sharedGate = gates
            }
            if let probabilities {
                let note = try addProbabilities(&layer, layer: l, range, probsArray: probabilities,
                                                keepFull: keepProbabilities,
                                                rowsPerChunk: rowsPerChunk ?? max(1, (1 << 18) / expertCount))
                notes[l] = note
            }
            layers.append(layer)
        }
        return (layers, notes)
    }

    /// The tokens of `ranges` (ascending, not overlapping) as one trace, renumbered in order: each
    /// range's routing with full probabilities, per-token arrays, routing groups (within each
    /// range) and the metadata of ``RoutingTraceNPY/read(directory:expertCount:maximumKeptProbabilities:)``.
    /// A sample of whole sequences for the in-memory statistics (`analyze --stream --sample N`).
    public func trace(ranges: [Range<Int>]) throws -> RoutingTrace {
        var parts = [[LayerRouting]](repeating: [], count: layerCount)
        var notes = [String?](repeating: nil, count: layerCount)
        var labels: [Int32]? = hasLabels ? [] : nil, positions: [Int32]? = hasPositions ? [] : nil
        var domains: [Int32]? = hasDomains ? [] : nil
        var groupSizes: [Int]? = hasGroups ? [] : nil
        for range in ranges {
            let (chunk, chunkNotes) = try layers(range, keepProbabilities: true)
            for l in 0..<layerCount {
                parts[l].append(chunk[l])
                if notes[l] == nil { notes[l] = chunkNotes[l] }
            }
            try labels? += self.labels(range)!
            try positions? += self.positions(range)!
            try domains? += self.domains(range)!
            if let ids = try groupIDs(range) {
                var scanner = RoutingTrace.GroupScanner()
                if let error = scanner.add(ids) { throw groupError(RoutingTrace.GroupIDError(token: range.lowerBound + error.token, group: error.group, message: error.message)) }
                groupSizes? += scanner.sizes
            }
        }
        var trace = RoutingTrace(expertCount: expertCount, tokenCount: ranges.reduce(0) { $0 + $1.count },
                                 labels: labels, positions: positions,
                                 classCount: labels.map { Int(($0.max() ?? -1) + 1) } ?? 0,
                                 layers: parts.map(LayerRouting.concatenating), routingGroups: groupSizes,
                                 metadata: metadata(notes: notes.compactMap { $0 }))
        trace.domains = domains
        if let exportMetadata {
            try exportMetadata.check(layerCount: layerCount, expertCount: expertCount, tokenCount: tokenCount,
                                     domainCount: domains.map { Int(($0.max() ?? -1) + 1) }, file: metadataPath)
            exportMetadata.annotate(&trace)
        }
        try trace.validate(file: directory)
        return trace
    }

    /// A trace's metadata as read from the directory: `source`, `sourceFormat`, the expert count's
    /// inference warning, and `notes` (the layers' from ``layers(_:keepProbabilities:rowsPerChunk:)``,
    /// then the reader's) with the note on missing weights last.
    public func metadata(notes given: [String]) -> [String: String] {
        var metadata = ["source": directory, "sourceFormat": "npy"]
        if let inferenceWarning { metadata["importWarnings"] = inferenceWarning }
        var notes = given
        if !hasWeights { notes.append("no weights.npy: each of a token's m experts has weight 1/m") }
        if !notes.isEmpty { metadata["importNotes"] = notes.joined(separator: "; ") }
        return metadata
    }

    /// Labels (−1 = unknown … ``RoutingTrace/maximumClassCount`` − 1) of the tokens `range`, nil without `labels.npy`.
    public func labels(_ range: Range<Int>) throws -> [Int32]? {
        try column(labels, range, role: "labels", lowest: -1, limit: RoutingTrace.maximumClassCount - 1)
    }

    /// Positions (−1 = unknown) of the tokens `range`, nil without `positions.npy`.
    public func positions(_ range: Range<Int>) throws -> [Int32]? {
        try column(positions, range, role: "positions", lowest: -1, limit: Int(Int32.max))
    }

    /// Domains of the tokens `range`, nil without `domains.npy`.
    public func domains(_ range: Range<Int>) throws -> [Int32]? {
        try column(domains, range, role: "domains", lowest: 0, limit: RoutingTrace.maximumDomainCount - 1)
    }

    /// Routing group ids (0…2³¹ − 1) of the tokens `range`, nil without `groups.npy`.
    public func groupIDs(_ range: Range<Int>) throws -> [Int32]? {
        guard let groups else { return nil }
        var out: [Int32] = []
        out.reserveCapacity(range.count)
        try groups.forEachIntegerChunk(range, role: "routing groups") { first, values in
            if let bad = values.firstIndex(where: { $0 < 0 || $0 > Int(Int32.max) }) {
                throw InputError(file: groups.file, location: groups.describeElement(first + bad),
                                 message: "\(values[bad]) is not a routing group number in 0…\(Int32.max)")
            }
            for x in values { out.append(Int32(x)) }
        }
        return out
    }

    /// A group-id error at token `token` of `groups.npy`, as an input error naming the element.
    public func groupError(_ error: RoutingTrace.GroupIDError) -> InputError {
        InputError(file: groups?.file ?? directory, location: groups?.describeElement(error.token), message: error.message)
    }

    private func column(_ array: NPYArray?, _ range: Range<Int>, role: String, lowest: Int, limit: Int) throws -> [Int32]? {
        guard let array else { return nil }
        var out: [Int32] = []
        out.reserveCapacity(range.count)
        try array.forEachIntegerChunk(range, role: role) { first, values in
            if let bad = values.firstIndex(where: { $0 < lowest || $0 > limit }) {
                throw InputError(file: array.file, location: array.describeElement(first + bad),
                                 message: "\(values[bad]) is not in \(lowest == 0 ? "0" : "−1")…\(limit)\(lowest == 0 ? "" : " (−1 = unknown)")")
            }
            for x in values { out.append(Int32(x)) }
        }
        return out
    }

    /// One layer's CSR routing of the tokens `range` from its slots, read in chunks of rows;
    /// negative slots are skipped.
    private func readLayer(_ l: Int, _ range: Range<Int>, rowsPerChunk: Int) throws -> LayerRouting {
        let n = range.count, k = slots
        let base = (l * tokenCount + range.lowerBound) * k
        var offsets = [Int32](repeating: 0, count: n + 1)
        var layerExperts: [Int32] = []
        var layerWeights: [Float] = []
        layerExperts.reserveCapacity(n * k)
        layerWeights.reserveCapacity(n * k)
        var chunkExperts: [Int] = [], chunkWeights: [Float] = []
        var t0 = 0
        while t0 < n {
            let t1 = min(n, t0 + rowsPerChunk)
            let flat = (base + t0 * k)..<(base + t1 * k)
            chunkExperts.removeAll(keepingCapacity: true)
            try experts.forEachIntegerChunk(flat, role: "expert indices", chunk: flat.count) { _, v in
                chunkExperts.append(contentsOf: v)
            }
            if let weights {
                chunkWeights.removeAll(keepingCapacity: true)
                try weights.forEachFloatChunk(flat, role: "combine weights", chunk: flat.count) { _, v in
                    chunkWeights.append(contentsOf: v)
                }
            }
            for t in t0..<t1 {
                let row = (t - t0) * k
                let start = layerExperts.count
                for j in 0..<k where chunkExperts[row + j] >= 0 {
                    let expert = Int32(chunkExperts[row + j])
                    for i in start..<layerExperts.count where layerExperts[i] == expert {
                        throw InputError(file: experts.file, location: experts.describeElement(base + t * k + j),
                                         message: "expert \(expert) appears twice for token \(range.lowerBound + t)")
                    }
                    layerExperts.append(expert)
                    if let weights {
                        let w = chunkWeights[row + j]
                        guard w.isFinite && w >= 0 else {
                            throw InputError(file: weights.file, location: weights.describeElement(base + t * k + j),
                                             message: "combine weight \(w) is not a finite number ≥ 0")
                        }
                        layerWeights.append(w)
                    }
                }
                let m = layerExperts.count - start
                if weights == nil && m > 0 {
                    layerWeights.append(contentsOf: repeatElement(1 / Float(m), count: m))
                }
                offsets[t + 1] = Int32(layerExperts.count)
            }
            t0 = t1
        }
        return LayerRouting(layer: l, offsets: offsets, experts: layerExperts, weights: layerWeights)
    }

    /// Adds the top and preferred probabilities (and the entropy, when the rows are
    /// distributions) of layer `l` for the tokens `range`, read in chunks of rows, and the full
    /// probabilities when `keepFull`; returns a note when the entropy is left out.
    private func addProbabilities(_ layer: inout LayerRouting, layer l: Int, _ range: Range<Int>, probsArray: NPYArray,
                                  keepFull: Bool, rowsPerChunk: Int) throws -> String? {
        let E = expertCount, n = range.count
        let start = (l * tokenCount + range.lowerBound) * E
        var full: [Float] = []
        if keepFull { full.reserveCapacity(n * E) }
        var top = [Float](repeating: 0, count: n)
        var preferred = [Int32](repeating: 0, count: n)
        var entropy = [Float](repeating: 0, count: n)
        var badRow: (token: Int, sum: Double)? = nil
        let tolerance = 1e-3
        try probsArray.forEachFloatChunk(start..<(start + n * E), role: "router probabilities",
                                         chunk: rowsPerChunk * E) { first, p in
            if let bad = LayerRouting.firstOutside(p, 0, 1) {
                throw InputError(file: probsArray.file, location: probsArray.describeElement(first + bad),
                                 message: "probability \(p[bad]) is not a finite number in [0, 1]")
            }
            if keepFull { full.append(contentsOf: p) }
            let firstToken = (first - start) / E
            for r in 0..<(p.count / E) {
                let t = firstToken + r
                let row = p.baseAddress! + r * E
                var best: Float = -1, bestIndex = 0
                var sum = 0.0
                for e in 0..<E {
                    if row[e] > best { best = row[e]; bestIndex = e }
                    sum += Double(row[e])
                }
                top[t] = best
                preferred[t] = Int32(bestIndex)
                if abs(sum - 1) > tolerance {
                    if badRow == nil { badRow = (t, sum) }
                    continue
                }
                var h = 0.0
                for e in 0..<E where row[e] > 0 {
                    let q = Double(row[e]) / sum
                    h -= q * Foundation.log(q)
                }
                entropy[t] = Float(max(0, h))
            }
        }
        if keepFull { layer.probabilities = full }
        layer.topProbability = top
        layer.preferredExpert = preferred
        if let badRow {
            return "layer \(l): probabilities of token \(range.lowerBound + badRow.token) sum to \(badRow.sum), not 1, so no router entropy"
        }
        layer.routerEntropy = entropy
        return nil
    }
}
