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
    public static let fileNames = ["experts.npy", "weights.npy", "probs.npy", "labels.npy", "positions.npy", "groups.npy"]

    /// Reads a trace from `directory`, which must hold `experts.npy`. `expertCount`
    /// fixes the number of experts; nil takes the last dimension of `probs.npy`, or
    /// the largest expert + 1 within ``ExpertCountInference``'s bound (noted in
    /// `metadata["importWarnings"]`).
    public static func read(directory: String, expertCount given: Int? = nil) throws -> RoutingTrace {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func optional(_ name: String) throws -> NPYArray? {
            FileManager.default.fileExists(atPath: path(name)) ? try NPYArray.read(path(name)) : nil
        }
        let expertsPath = path("experts.npy")
        guard FileManager.default.fileExists(atPath: expertsPath) else {
            throw InputError(file: directory, message: "no experts.npy in the directory (expected \(fileNames.joined(separator: ", ")))")
        }
        if let given, given < 1 || given > RoutingTrace.maximumExpertCount {
            throw InputError(file: directory, message: "expert count \(given) is outside 1…\(RoutingTrace.maximumExpertCount)")
        }
        let expertsArray = try NPYArray.read(expertsPath)
        let weightsArray = try optional("weights.npy")
        let probsArray = try optional("probs.npy")
        let labelsArray = try optional("labels.npy")
        let positionsArray = try optional("positions.npy")
        let groupsArray = try optional("groups.npy")

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
        for a in [labelsArray, positionsArray, groupsArray].compactMap({ $0 }) where a.shape != [tokenCount] {
            throw InputError(file: a.file, message: "shape \(a.shape), expected (\(tokenCount),): one value per token of experts.npy")
        }

        // Experts: the count, then every slot.
        let experts = try expertsArray.integers(role: "expert indices")
        let largest = experts.withUnsafeBufferPointer { $0.max() ?? -1 }
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
                let at = experts.firstIndex(of: largest)!
                throw InputError(file: expertsPath, location: expertsArray.describeElement(at),
                                 message: "expert \(largest) exceeds the limit of \(RoutingTrace.maximumExpertCount - 1)")
            }
            var seen = [Bool](repeating: false, count: largest + 1)
            experts.withUnsafeBufferPointer { e in
                for x in e where x >= 0 { seen[x] = true }
            }
            let at = experts.firstIndex(of: largest)!
            (expertCount, inferenceWarning) = try ExpertCountInference.infer(
                largest: largest, seen: seen, file: expertsPath, location: expertsArray.describeElement(at))
        }
        if largest >= expertCount {
            let at = experts.firstIndex { $0 >= expertCount }!
            let source = given != nil ? "the given expert count" : "the expert count of probs.npy"
            throw InputError(file: expertsPath, location: expertsArray.describeElement(at),
                             message: "expert \(experts[at]) is not below \(source), \(expertCount)")
        }
        let weights = try weightsArray?.floats(role: "combine weights")
        let probs = try probsArray?.floats(role: "router probabilities")
        if let probs, let probsArray, let bad = LayerRouting.firstOutside(probs, 0, 1) {
            throw InputError(file: probsArray.file, location: probsArray.describeElement(bad),
                             message: "probability \(probs[bad]) is not a finite number in [0, 1]")
        }

        var layers: [LayerRouting] = []
        var notes: [String] = []
        for l in 0..<layerCount {
            var layer = try buildLayer(l, tokenCount: tokenCount, k: k, experts: experts, weights: weights,
                                       expertsArray: expertsArray, weightsArray: weightsArray)
            if let probs {
                let note = addProbabilities(&layer, layer: l, tokenCount: tokenCount, expertCount: expertCount, probs: probs)
                if let note { notes.append(note) }
            }
            layers.append(layer)
        }

        func perToken(_ array: NPYArray?, _ role: String) throws -> [Int32]? {
            guard let array else { return nil }
            let values = try array.integers(role: role)
            let limit = role == "labels" ? RoutingTrace.maximumClassCount - 1 : Int(Int32.max)
            if let bad = values.firstIndex(where: { $0 < -1 || $0 > limit }) {
                throw InputError(file: array.file, location: array.describeElement(bad),
                                 message: "\(values[bad]) is not in −1…\(limit) (−1 = unknown)")
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
        let metaPath = path("meta.json")
        if FileManager.default.fileExists(atPath: metaPath) {
            try ExportMetadata.read(metaPath).apply(to: &trace, file: metaPath)
        }
        try trace.validate(file: directory)
        return trace
    }

    /// One layer's CSR routing from its n×k slots; negative slots are skipped.
    static func buildLayer(_ l: Int, tokenCount n: Int, k: Int, experts: [Int], weights: [Float]?,
                           expertsArray: NPYArray, weightsArray: NPYArray?) throws -> LayerRouting {
        let base = l * n * k
        var offsets = [Int32](repeating: 0, count: n + 1)
        var layerExperts: [Int32] = []
        var layerWeights: [Float] = []
        layerExperts.reserveCapacity(n * k)
        layerWeights.reserveCapacity(n * k)
        try experts.withUnsafeBufferPointer { e in
            for t in 0..<n {
                let row = base + t * k
                let start = layerExperts.count
                for j in 0..<k where e[row + j] >= 0 {
                    let expert = Int32(e[row + j])
                    for i in start..<layerExperts.count where layerExperts[i] == expert {
                        throw InputError(file: expertsArray.file, location: expertsArray.describeElement(row + j),
                                         message: "expert \(expert) appears twice for token \(t)")
                    }
                    layerExperts.append(expert)
                    if let weights, let weightsArray {
                        let w = weights[row + j]
                        guard w.isFinite && w >= 0 else {
                            throw InputError(file: weightsArray.file, location: weightsArray.describeElement(row + j),
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
        }
        return LayerRouting(layer: l, offsets: offsets, experts: layerExperts, weights: layerWeights)
    }

    /// Adds the full, top and preferred probabilities (and the entropy, when the rows
    /// are distributions) of layer `l` from `probs`; returns a note when the entropy is
    /// left out.
    static func addProbabilities(_ layer: inout LayerRouting, layer l: Int, tokenCount n: Int, expertCount E: Int,
                                 probs: [Float]) -> String? {
        let start = l * n * E
        let full = Array(probs[start..<(start + n * E)])
        var top = [Float](repeating: 0, count: n)
        var preferred = [Int32](repeating: 0, count: n)
        var entropy = [Float](repeating: 0, count: n)
        var badRow: (token: Int, sum: Double)? = nil
        let tolerance = 1e-3
        full.withUnsafeBufferPointer { p in
            for t in 0..<n {
                let row = p.baseAddress! + t * E
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
        layer.probabilities = full
        layer.topProbability = top
        layer.preferredExpert = preferred
        if let badRow {
            return "layer \(l): probabilities of token \(badRow.token) sum to \(badRow.sum), not 1, so no router entropy"
        }
        layer.routerEntropy = entropy
        return nil
    }
}
