import SwitchyardFileIO
import Foundation
import SwitchyardTraces

/// Numbers each distinct set of experts a token can get ("routing pattern"): 0 is the
/// empty set, 1 + e the single expert e, larger ids other sets in order of appearance.
/// Every count the statistics need is a function of (class, pattern), so a layer
/// reduces to a class × pattern table and the bootstrap and permutation tests work on
/// those tables instead of on the trace.
final class PatternTable {
    let expertCount: Int
    /// The experts of each pattern (sorted, with repeats when a token has an expert twice).
    private(set) var experts: [[Int32]]
    private var direct: [Int32]
    private var maskMap: [UInt64: Int32] = [:]
    private var listMap: [[Int32]: Int32] = [:]

    init(expertCount: Int) {
        self.expertCount = expertCount
        experts = [[]] + (0..<expertCount).map { [Int32($0)] }
        direct = expertCount <= 16 ? [Int32](repeating: -1, count: 1 << expertCount) : []
    }

    /// Number of patterns so far.
    var count: Int { experts.count }

    /// The pattern id of the `k` experts at `list`.
    @inline(__always)
    func id(_ list: UnsafePointer<Int32>, _ k: Int) -> Int32 {
        if k == 0 { return 0 }
        if k == 1 { return 1 + list[0] }
        return idOfSet(list, k)
    }

    private func idOfSet(_ list: UnsafePointer<Int32>, _ k: Int) -> Int32 {
        if expertCount <= 64 {
            var mask: UInt64 = 0
            var repeated = false
            for j in 0..<k {
                let bit = UInt64(1) << UInt64(list[j])
                if mask & bit != 0 { repeated = true; break }
                mask |= bit
            }
            if !repeated {
                if expertCount <= 16 {
                    let existing = direct[Int(mask)]
                    if existing >= 0 { return existing }
                    let id = Int32(experts.count)
                    direct[Int(mask)] = id
                    experts.append(PatternTable.members(of: mask))
                    return id
                }
                if let existing = maskMap[mask] { return existing }
                let id = Int32(experts.count)
                maskMap[mask] = id
                experts.append(PatternTable.members(of: mask))
                return id
            }
        }
        let key = Array(UnsafeBufferPointer(start: list, count: k)).sorted()
        if let existing = listMap[key] { return existing }
        let id = Int32(experts.count)
        listMap[key] = id
        experts.append(key)
        return id
    }

    private static func members(of mask: UInt64) -> [Int32] {
        var out: [Int32] = []
        var m = mask
        while m != 0 {
            out.append(Int32(m.trailingZeroBitCount))
            m &= m - 1
        }
        return out
    }
}

/// One layer of a trace reduced to what the statistics need.
struct LayerReduction {
    /// The layer's index in the model.
    var layerNumber: Int
    /// Each token's routing pattern.
    var patternOfToken: [Int32]
    /// Experts of each pattern.
    var patternExperts: [[Int32]]
    /// Tokens by class and pattern, row-major `classCount × patternCount`.
    var classPattern: [Double]
    /// Each token's top-1 expert (-1 = none): the preferred expert when recorded, else
    /// the assigned expert with the largest weight (first on ties), else the argmax of
    /// the router probabilities.
    var top1: [Int32]
    /// Assignments by position and expert, row-major `positionCount × E`, or nil.
    var positionExpert: [Double]?
    /// Tokens that no expert took.
    var tokensWithoutExpert: Int
    /// Dropped tokens.
    var dropped: Int
    /// How drops were counted.
    var droppedDefinition: String
    /// Expert capacity, when the router had one.
    var capacity: Int?
    /// Mean largest router probability, or nil.
    var routerConfidence: Double?
    /// Mean router entropy in nats, or nil.
    var meanRouterEntropy: Double?
    /// Sums of router probabilities by class and expert (`classCount × E`), or nil.
    var probabilityByClass: [Double]?
    /// Tokens per class (for the probability means).
    var classTokens: [Double]

    var patternCount: Int { patternExperts.count }
}

/// Reduces one layer of `trace` in a few passes over its tokens.
func reduceLayer(_ layer: LayerRouting, of trace: RoutingTrace, shape: TraceShape,
                 source: String?) throws -> LayerReduction {
    let n = trace.tokenCount, e = trace.expertCount, classCount = shape.classCount
    let patterns = PatternTable(expertCount: e)
    var patternOfToken = [Int32](repeating: 0, count: n)
    var top1 = [Int32](repeating: -1, count: n)
    var positionExpert: [Double]? = shape.positionCount > 0
        ? [Double](repeating: 0, count: shape.positionCount * e) : nil
    var withoutExpert = 0, dropped = 0
    let preferred = layer.preferredExpert

    layer.offsets.withUnsafeBufferPointer { off in
    layer.experts.withUnsafeBufferPointer { ex in
    layer.weights.withUnsafeBufferPointer { w in
    patternOfToken.withUnsafeMutableBufferPointer { pat in
    top1.withUnsafeMutableBufferPointer { top in
        let exBase = ex.baseAddress ?? UnsafePointer(bitPattern: 8)!
        for t in 0..<n {
            let s = Int(off[t]), k = Int(off[t + 1]) - s
            pat[t] = patterns.id(exBase + s, k)
            if k == 0 { withoutExpert += 1 }
            var best: Int32 = -1
            var bestWeight: Float = -1
            for j in s..<(s + k) where w[j] > bestWeight {
                bestWeight = w[j]
                best = ex[j]
            }
            top[t] = best
        }
    }}}}}

    if let preferred {
        preferred.withUnsafeBufferPointer { pref in
        layer.offsets.withUnsafeBufferPointer { off in
        layer.experts.withUnsafeBufferPointer { ex in
        top1.withUnsafeMutableBufferPointer { top in
            for t in 0..<n {
                let s = Int(off[t]), k = Int(off[t + 1]) - s
                let p = pref[t]
                if p >= 0 {
                    top[t] = p
                    var taken = false
                    for j in s..<(s + k) where ex[j] == p { taken = true; break }
                    if !taken { dropped += 1 }
                } else if k == 0 {
                    dropped += 1
                }
            }
        }}}}
    } else {
        dropped = withoutExpert
    }

    if let positions = trace.positions, positionExpert != nil {
        positions.withUnsafeBufferPointer { pos in
        layer.offsets.withUnsafeBufferPointer { off in
        layer.experts.withUnsafeBufferPointer { ex in
        positionExpert!.withUnsafeMutableBufferPointer { pe in
            for t in 0..<n {
                let row = Int(pos[t]) * e
                for j in Int(off[t])..<Int(off[t + 1]) { pe[row + Int(ex[j])] += 1 }
            }
        }}}}
    }

    let patternCount = patterns.count
    var classPattern = [Double](repeating: 0, count: classCount * patternCount)
    var classTokens = [Double](repeating: 0, count: classCount)
    patternOfToken.withUnsafeBufferPointer { pat in
    classPattern.withUnsafeMutableBufferPointer { cp in
        if let labels = trace.labels {
            labels.withUnsafeBufferPointer { lab in
                for t in 0..<n { cp[Int(lab[t]) * patternCount + Int(pat[t])] += 1 }
            }
        } else {
            for t in 0..<n { cp[Int(pat[t])] += 1 }
        }
    }}
    for c in 0..<classCount {
        for p in 0..<patternCount { classTokens[c] += classPattern[c * patternCount + p] }
    }

    // Router probabilities: confidence, entropy, class × expert means.
    let place = "layer \(layer.layer)"
    func bad(_ what: String, _ t: Int, _ value: Float, _ expected: String) -> InputError {
        InputError(file: source, location: "\(place), token \(t)", message: "\(what) is \(value), expected \(expected)")
    }
    var confidenceSum: Double? = nil, entropySum: Double? = nil
    if let top = layer.topProbability {
        var s = 0.0
        try top.withUnsafeBufferPointer { v in
            for t in 0..<n {
                guard v[t].isFinite && v[t] >= 0 else { throw bad("top probability", t, v[t], "a finite value ≥ 0") }
                s += Double(v[t])
            }
        }
        confidenceSum = s
    }
    if let entropy = layer.routerEntropy {
        var s = 0.0
        try entropy.withUnsafeBufferPointer { v in
            for t in 0..<n {
                guard v[t].isFinite && v[t] >= -1e-4 else { throw bad("router entropy", t, v[t], "a finite value ≥ 0") }
                s += Double(v[t])
            }
        }
        entropySum = s
    }
    var probabilityByClass: [Double]? = nil
    if let probabilities = layer.probabilities {
        var byClass = [Double](repeating: 0, count: classCount * e)
        let needConfidence = confidenceSum == nil, needEntropy = entropySum == nil
        var cs = 0.0, es = 0.0
        let classes = trace.labels ?? [Int32](repeating: 0, count: n)
        try probabilities.withUnsafeBufferPointer { pr in
        try byClass.withUnsafeMutableBufferPointer { bc in
        try classes.withUnsafeBufferPointer { cls in
        try top1.withUnsafeMutableBufferPointer { top in
            for t in 0..<n {
                let row = pr.baseAddress! + t * e
                let out = bc.baseAddress! + Int(cls[t]) * e
                var largest: Float = -1, arg: Int32 = -1, h = 0.0
                for j in 0..<e {
                    let p = row[j]
                    guard p.isFinite && p >= 0 else {
                        throw InputError(file: source, location: "\(place), token \(t), expert \(j)",
                                         message: "router probability is \(p), expected a finite value ≥ 0")
                    }
                    out[j] += Double(p)
                    if p > largest { largest = p; arg = Int32(j) }
                    if needEntropy && p > 0 { h -= Double(p) * log(Double(p)) }
                }
                if needConfidence { cs += Double(largest) }
                if needEntropy { es += h }
                if top[t] < 0 { top[t] = arg }
            }
        }}}}
        if needConfidence { confidenceSum = cs }
        if needEntropy { entropySum = es }
        probabilityByClass = byClass
    }

    return LayerReduction(
        layerNumber: layer.layer, patternOfToken: patternOfToken, patternExperts: patterns.experts,
        classPattern: classPattern, top1: top1, positionExpert: positionExpert,
        tokensWithoutExpert: withoutExpert, dropped: dropped,
        droppedDefinition: preferred != nil ? "preferred_expert_not_taken" : "no_expert",
        capacity: layer.capacity,
        routerConfidence: confidenceSum.map { $0 / Double(n) },
        meanRouterEntropy: entropySum.map { $0 / Double(n) },
        probabilityByClass: probabilityByClass, classTokens: classTokens)
}
