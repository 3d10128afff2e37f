import SwitchyardFileIO
import Foundation

/// Routing traces from NumPy arrays in a directory, as a PyTorch or JAX script dumps
/// them with `np.save` (see `docs/trace-format.md`):
///
/// | file            | shape              | type    | meaning                                         |
/// |-----------------|--------------------|---------|-------------------------------------------------|
/// | `experts.npy`   | n×k or L×n×k       | integer | the k experts of each token; < 0 = empty slot   |
/// | `weights.npy`   | same as experts    | float   | combine weights (optional)                      |
/// | `probs.npy`     | n×E or L×n×E       | float   | the router's probabilities (optional)           |
/// | `labels.npy`    | n                  | integer | class label of each token's image, −1 = unknown |
/// | `positions.npy` | n                  | integer | position in the image, −1 = unknown             |
/// | `groups.npy`    | n                  | integer | routing group (batch) of each token, ≥ 0        |
/// | `domains.npy`   | n                  | integer | domain (source corpus) of each token, ≥ 0       |
/// | `shared_gate.npy` | L×n (or n)       | float   | gate of the layer's gated shared expert, [0, 1] |
///
/// Layers are numbered `0..<L` (a 2-D `experts.npy` is one layer, 0), or by the `blocks` of a
/// `meta.json` beside the arrays (``ExportMetadata``: the Hugging Face exporter's, which also
/// marks the trace as sequences of token ids). Without
/// `weights.npy` a token's m experts get weight 1/m each. With `probs.npy` each layer
/// gets the full probabilities, the top probability, the first-choice (preferred) expert
/// and, when every row sums to 1 within 10⁻³, the entropy `−Σ p ln p`. With `groups.npy`
/// each run of equal group ids is one routing group (``RoutingTrace/routingGroups``); a
/// group's tokens must be consecutive.
public enum RoutingTraceNPY {
    /// The file names read from the directory.
    public static let fileNames = ["experts.npy", "weights.npy", "probs.npy", "labels.npy", "positions.npy", "groups.npy",
                                   "domains.npy", "shared_gate.npy"]

    /// The most router probabilities (layers × tokens × E) kept whole in the trace: 2^29, 2 GiB, the
    /// largest `probs.npy` that was read whole before files were read in chunks.
    public static let maximumKeptProbabilities = 1 << 29

    /// Reads a trace from `directory`, which must hold `experts.npy`. `expertCount`
    /// fixes the number of experts; nil takes the last dimension of `probs.npy`, or
    /// the largest expert + 1 within ``ExpertCountInference``'s bound (noted in
    /// `metadata["importWarnings"]`).
    /// `maximumKeptProbabilities` bounds the router probabilities kept whole.
    public static func read(directory: String, expertCount given: Int? = nil,
                            maximumKeptProbabilities: Int = maximumKeptProbabilities) throws -> RoutingTrace {
        try read(directory: directory, expertCount: given, maximumKeptProbabilities: maximumKeptProbabilities,
                 rowsPerChunk: nil)
    }

    /// ``read(directory:expertCount:maximumKeptProbabilities:)`` reading `rowsPerChunk` tokens of
    /// a layer at a time (nil: about 256 KiB of experts or 1 MiB of probabilities; tests use a few).
    static func read(directory: String, expertCount given: Int?, maximumKeptProbabilities: Int,
                     rowsPerChunk: Int?) throws -> RoutingTrace {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func optional(_ name: String) throws -> NPYArray? {
            FileManager.default.fileExists(atPath: path(name)) ? try NPYArray.open(path(name)) : nil
        }
        let expertsPath = path("experts.npy")
        guard FileManager.default.fileExists(atPath: expertsPath) else {
            throw InputError(file: directory, message: "no experts.npy in the directory (expected \(fileNames.joined(separator: ", ")))")
        }
        if let given, given < 1 || given > RoutingTrace.maximumExpertCount {
            throw InputError(file: directory, message: "expert count \(given) is outside 1…\(RoutingTrace.maximumExpertCount)")
        }
        let expertsArray = try NPYArray.open(expertsPath)
        let weightsArray = try optional("weights.npy")
        let probsArray = try optional("probs.npy")
        let labelsArray = try optional("labels.npy")
        let positionsArray = try optional("positions.npy")
        let groupsArray = try optional("groups.npy")
        let domainsArray = try optional("domains.npy")
        let sharedGateArray = try optional("shared_gate.npy")

        // Shapes.
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
        if let w = weightsArray, w.shape != shape {
            throw InputError(file: w.file, message: "shape \(w.shape) differs from experts.npy's \(shape)")
        }
        var probCount = 0
        if let p = probsArray {
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
            if e > RoutingTrace.maximumExpertCount {
                throw InputError(file: p.file, message: "\(e) experts exceed the limit of \(RoutingTrace.maximumExpertCount)")
            }
        }
        if let g = sharedGateArray, g.shape != (shape.count == 3 ? [layerCount, tokenCount] : [tokenCount]) {
            throw InputError(file: g.file, message: "shape \(g.shape), expected \(shape.count == 3 ? "(\(layerCount), \(tokenCount))" : "(\(tokenCount),)"): one gate per layer and token of experts.npy")
        }
        for a in [labelsArray, positionsArray, groupsArray, domainsArray].compactMap({ $0 }) where a.shape != [tokenCount] {
            throw InputError(file: a.file, message: "shape \(a.shape), expected (\(tokenCount),): one value per token of experts.npy")
        }

        // Experts: the count (a first pass over the file), then every slot.
        var largest = -1, largestAt = 0
        var seen = [Bool](repeating: false, count: RoutingTrace.maximumExpertCount)
        try expertsArray.forEachIntegerChunk(0..<expertsArray.count, role: "expert indices") { first, values in
            for (i, x) in values.enumerated() {
                if x > largest { largest = x; largestAt = first + i }
                if x >= 0 && x < RoutingTrace.maximumExpertCount { seen[x] = true }
            }
        }
        let expertCount: Int
        var inferenceWarning: String? = nil
        if let given {
            expertCount = given
        } else if probsArray != nil {
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
        if largest >= expertCount {
            var (at, value) = (largestAt, largest)
            try expertsArray.forEachIntegerChunk(0..<largestAt, role: "expert indices") { first, values in
                if at == largestAt, let i = values.firstIndex(where: { $0 >= expertCount }) { (at, value) = (first + i, values[i]) }
            }
            let source = given != nil ? "the given expert count" : "the expert count of probs.npy"
            throw InputError(file: expertsPath, location: expertsArray.describeElement(at),
                             message: "expert \(value) is not below \(source), \(expertCount)")
        }
        // Full probabilities only up to a size; beyond it each token keeps its top probability,
        // preferred expert and entropy (docs/trace-format.md).
        let keepProbabilities = layerCount * tokenCount * probCount <= maximumKeptProbabilities

        var layers: [LayerRouting] = []
        var notes: [String] = []
        for l in 0..<layerCount {
            var layer = try buildLayer(l, tokenCount: tokenCount, k: k, expertsArray: expertsArray,
                                       weightsArray: weightsArray, rowsPerChunk: rowsPerChunk ?? max(1, (1 << 16) / k))
            if let sharedGateArray {
                let range = (l * tokenCount)..<((l + 1) * tokenCount)
                var gates: [Float] = []
                gates.reserveCapacity(tokenCount)
                try sharedGateArray.forEachFloatChunk(range, role: "shared-expert gates") { first, values in
                    if let bad = LayerRouting.firstOutside(values, 0, 1) {
                        throw InputError(file: sharedGateArray.file, location: sharedGateArray.describeElement(first + bad),
                                         message: "shared-expert gate \(values[bad]) is not a finite number in [0, 1]")
                    }
                    gates.append(contentsOf: values)
                }
                layer.sharedGate = gates
            }
            if let probsArray {
                let note = try addProbabilities(&layer, layer: l, tokenCount: tokenCount, expertCount: expertCount,
                                                probsArray: probsArray, keepFull: keepProbabilities,
                                                rowsPerChunk: rowsPerChunk ?? max(1, (1 << 18) / expertCount))
                if let note { notes.append(note) }
            }
            layers.append(layer)
        }
        if probsArray != nil && !keepProbabilities {
            notes.append("probs.npy holds \(layerCount * tokenCount * probCount) values, more than the \(maximumKeptProbabilities) kept: each token keeps its top probability, preferred expert and entropy, and the class × expert mean probabilities are left out")
        }

        func perToken(_ array: NPYArray?, _ role: String) throws -> [Int32]? {
            guard let array else { return nil }
            let values = try array.integers(role: role)
            let limit = role == "labels" ? RoutingTrace.maximumClassCount - 1
                : role == "domains" ? RoutingTrace.maximumDomainCount - 1 : Int(Int32.max)
            let lowest = role == "domains" ? 0 : -1
            if let bad = values.firstIndex(where: { $0 < lowest || $0 > limit }) {
                throw InputError(file: array.file, location: array.describeElement(bad),
                                 message: "\(values[bad]) is not in \(lowest == 0 ? "0" : "−1")…\(limit)\(lowest == 0 ? "" : " (−1 = unknown)")")
            }
            return values.map { Int32($0) }
        }
        let labels = try perToken(labelsArray, "labels")
        let positions = try perToken(positionsArray, "positions")
        let classCount = labels.map { Int(($0.max() ?? -1) + 1) } ?? 0
        var routingGroups: [Int]? = nil
        if let groupsArray {
            let ids = try groupsArray.integers(role: "routing groups")
            if let bad = ids.firstIndex(where: { $0 < 0 || $0 > Int(Int32.max) }) {
                throw InputError(file: groupsArray.file, location: groupsArray.describeElement(bad),
                                 message: "\(ids[bad]) is not a routing group number in 0…\(Int32.max)")
            }
            switch RoutingTrace.routingGroups(fromTokenGroups: ids.map { Int32($0) }) {
            case .success(let sizes): routingGroups = sizes
            case .failure(let error):
                throw InputError(file: groupsArray.file, location: groupsArray.describeElement(error.token),
                                 message: error.message)
            }
        }

        var metadata = ["source": directory, "sourceFormat": "npy"]
        if let inferenceWarning { metadata["importWarnings"] = inferenceWarning }
        if weightsArray == nil { notes.append("no weights.npy: each of a token's m experts has weight 1/m") }
        if !notes.isEmpty { metadata["importNotes"] = notes.joined(separator: "; ") }
        var trace = RoutingTrace(expertCount: expertCount, tokenCount: tokenCount, labels: labels, positions: positions,
                                 classCount: classCount, layers: layers, routingGroups: routingGroups, metadata: metadata)
        trace.domains = try perToken(domainsArray, "domains")
        let metaPath = path("meta.json")
        if FileManager.default.fileExists(atPath: metaPath) {
            try ExportMetadata.read(metaPath).apply(to: &trace, file: metaPath)
        }
        try trace.validate(file: directory)
        return trace
    }

    /// One layer's CSR routing from its n×k slots, read in chunks of rows; negative slots are
    /// skipped.
    static func buildLayer(_ l: Int, tokenCount n: Int, k: Int, expertsArray: NPYArray,
                           weightsArray: NPYArray?, rowsPerChunk: Int) throws -> LayerRouting {
        let base = l * n * k
        var offsets = [Int32](repeating: 0, count: n + 1)
        var layerExperts: [Int32] = []
        var layerWeights: [Float] = []
        layerExperts.reserveCapacity(n * k)
        layerWeights.reserveCapacity(n * k)
        var experts: [Int] = [], weights: [Float] = []
        var t0 = 0
        while t0 < n {
            let t1 = min(n, t0 + rowsPerChunk)
            let range = (base + t0 * k)..<(base + t1 * k)
            experts.removeAll(keepingCapacity: true)
            try expertsArray.forEachIntegerChunk(range, role: "expert indices", chunk: range.count) { _, v in
                experts.append(contentsOf: v)
            }
            if let weightsArray {
                weights.removeAll(keepingCapacity: true)
                try weightsArray.forEachFloatChunk(range, role: "combine weights", chunk: range.count) { _, v in
                    weights.append(contentsOf: v)
                }
            }
            for t in t0..<t1 {
                let row = (t - t0) * k
                let start = layerExperts.count
                for j in 0..<k where experts[row + j] >= 0 {
                    let expert = Int32(experts[row + j])
                    for i in start..<layerExperts.count where layerExperts[i] == expert {
                        throw InputError(file: expertsArray.file, location: expertsArray.describeElement(base + t * k + j),
                                         message: "expert \(expert) appears twice for token \(t)")
                    }
                    layerExperts.append(expert)
                    if let weightsArray {
                        let w = weights[row + j]
                        guard w.isFinite && w >= 0 else {
                            throw InputError(file: weightsArray.file, location: weightsArray.describeElement(base + t * k + j),
                                             message: "combine weight \(w) is not a finite number ≥ 0")
                        }
                        layerWeights.append(w)
                    }
                }
                let m = layerExperts.count - start
                if weightsArray == nil && m > 0 {
                    layerWeights.append(contentsOf: repeatElement(1 / Float(m), count: m))
                }
                offsets[t + 1] = Int32(layerExperts.count)
            }
            t0 = t1
        }
        return LayerRouting(layer: l, offsets: offsets, experts: layerExperts, weights: layerWeights)
    }

    /// Adds the top and preferred probabilities (and the entropy, when the rows are
    /// distributions) of layer `l` from `probsArray`, read in chunks of rows, and the full
    /// probabilities when `keepFull`; returns a note when the entropy is left out.
    static func addProbabilities(_ layer: inout LayerRouting, layer l: Int, tokenCount n: Int, expertCount E: Int,
                                 probsArray: NPYArray, keepFull: Bool, rowsPerChunk: Int) throws -> String? {
        let start = l * n * E
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
            return "layer \(l): probabilities of token \(badRow.token) sum to \(badRow.sum), not 1, so no router entropy"
        }
        layer.routerEntropy = entropy
        return nil
    }
}
