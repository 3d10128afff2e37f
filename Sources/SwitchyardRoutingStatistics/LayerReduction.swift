import SwitchyardFileIO
import Foundation
import SwitchyardTraces

/// One layer of a trace reduced to what the statistics need.
struct LayerReduction {
    /// The layer's index in the model.
    var layerNumber: Int
    /// Each token's routing pattern and each pattern's experts.
    var members: PatternMembers
    /// Assignments by class and expert, row-major `classCount × E`.
    var classExpert: [Double]
    /// Tokens by number of experts and class: `expertsPerToken[k][c]`, k = 0…most per token.
    var expertsPerToken: [[Double]]
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

    var patternCount: Int { members.count }
    /// The largest number of experts a token of the layer has.
    var mostExpertsPerToken: Int { expertsPerToken.count - 1 }
}

/// Reduces one layer of `trace` in a few passes over its tokens.
/// `maximumPatterns` bounds the routing patterns numbered (``PatternTable``); beyond it each
/// token is its own pattern.
func reduceLayer(_ layer: LayerRouting, of trace: RoutingTrace, shape: TraceShape,
                 source: String?, maximumPatterns: Int = ResamplingLimits().maxPatterns) throws -> LayerReduction {
    let n = trace.tokenCount, e = trace.expertCount, classCount = shape.classCount
    let patterns = PatternTable(expertCount: e, limit: maximumPatterns)
    var patternOfToken = [Int32](repeating: 0, count: n)
    // At least 1: the single experts are patterns of one expert whether a token has one or not.
    var tokenIsPattern = false, mostExperts = 1
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
            if !tokenIsPattern {
                let id = patterns.id(exBase + s, k)
                if id < 0 { tokenIsPattern = true } else { pat[t] = id }
            }
            mostExperts = max(mostExperts, k)
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

    // Assignments by class and expert, tokens by class and number of experts.
    var classExpert = [Double](repeating: 0, count: classCount * e)
    var levels = [Double](repeating: 0, count: (mostExperts + 1) * classCount)
    layer.offsets.withUnsafeBufferPointer { off in
    layer.experts.withUnsafeBufferPointer { ex in
    classExpert.withUnsafeMutableBufferPointer { ce in
    levels.withUnsafeMutableBufferPointer { lv in
        func count(_ t: Int, _ c: Int) {
            let s = Int(off[t]), end = Int(off[t + 1])
            lv[(end - s) * classCount + c] += 1
            for j in s..<end { ce[c * e + Int(ex[j])] += 1 }
        }
        if let labels = trace.labels {
            labels.withUnsafeBufferPointer { lab in
                for t in 0..<n { count(t, Int(lab[t])) }
            }
        } else {
            for t in 0..<n { count(t, 0) }
        }
    }}}}
    let expertsPerToken = (0...mostExperts).map { Array(levels[($0 * classCount)..<(($0 + 1) * classCount)]) }
    var classTokens = [Double](repeating: 0, count: classCount)
    for c in 0..<classCount {
        for k in 0...mostExperts { classTokens[c] += expertsPerToken[k][c] }
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
        layerNumber: layer.layer,
        members: tokenIsPattern ? PatternMembers(tokensOf: layer) : PatternMembers(patternOfToken: patternOfToken, table: patterns),
        classExpert: classExpert, expertsPerToken: expertsPerToken, top1: top1, positionExpert: positionExpert,
        tokensWithoutExpert: withoutExpert, dropped: dropped,
        droppedDefinition: preferred != nil ? "preferred_expert_not_taken" : "no_expert",
        capacity: layer.capacity,
        routerConfidence: confidenceSum.map { $0 / Double(n) },
        meanRouterEntropy: entropySum.map { $0 / Double(n) },
        probabilityByClass: probabilityByClass, classTokens: classTokens)
}
