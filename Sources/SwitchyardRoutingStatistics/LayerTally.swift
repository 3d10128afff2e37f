import SwitchyardFileIO
import Foundation
import SwitchyardTraces

/// What the statistics count in one layer, added a range of tokens at a time: the whole trace
/// at once (``reduceLayer(_:of:shape:source:maximumPatterns:)``), or chunk after chunk in the
/// one-pass analysis (``analyzeStream(_:options:tokensPerChunk:)``). Every sum runs over the
/// tokens in order into one accumulator, so adding a trace in chunks gives the same bits as adding
/// it whole.
struct LayerTally {
    let expertCount: Int
    let classCount: Int
    let positionCount: Int
    /// Assignments by class and expert, row-major `classCount × E`.
    var classExpert: [Double]
    /// Tokens by number of experts and class, row-major `(most experts + 1) × classCount`; at
    /// least two rows (0 and 1 expert).
    var levelTable: [Double]
    /// Assignments by position and expert (`positionCount × E`), nil without positions.
    var positionExpert: [Double]?
    var tokens = 0
    var tokensWithoutExpert = 0
    var dropped = 0
    /// Whether any range recorded preferred experts (drops are then "preferred expert not taken").
    var countsPreferred: Bool?
    var capacity: Int?
    /// Σ top probability; Σ entropy as recorded (``LayerRouting/routerEntropy``), and Σ −p ln p
    /// over the full probabilities of ranges without a recorded entropy whose rows are
    /// distributions (sum 1 within 10⁻³; sigmoid scores are not). nil once a range lacks them.
    var confidenceSum: Double?
    var recordedEntropySum: Double?
    var computedEntropySum: Double?
    /// Sums of router probabilities by class and expert (`classCount × E`), nil once a range lacks them.
    var probabilityByClass: [Double]?
    var ranges = 0

    init(expertCount: Int, classCount: Int, positionCount: Int) {
        self.expertCount = expertCount
        self.classCount = classCount
        self.positionCount = positionCount
        classExpert = [Double](repeating: 0, count: classCount * expertCount)
        levelTable = [Double](repeating: 0, count: 2 * classCount)
        positionExpert = positionCount > 0 ? [Double](repeating: 0, count: positionCount * expertCount) : nil
    }

    /// Adds the tokens of `layer`, whose labels and positions are `labels` and `positions` and
    /// whose first token is token `firstToken` of the trace (for error messages).
    mutating func add(_ layer: LayerRouting, labels: [Int32]?, positions: [Int32]?, firstToken: Int,
                      source: String?) throws {
        let n = layer.offsets.count - 1, e = expertCount
        let first = ranges == 0
        ranges += 1
        tokens += n
        capacity = layer.capacity
        var mostExperts = 1, without = 0
        layer.offsets.withUnsafeBufferPointer { off in
            for t in 0..<n {
                let k = Int(off[t + 1] - off[t])
                mostExperts = max(mostExperts, k)
                if k == 0 { without += 1 }
            }
        }
        tokensWithoutExpert += without
        if let preferred = layer.preferredExpert {
            countsPreferred = true
            preferred.withUnsafeBufferPointer { pref in
            layer.offsets.withUnsafeBufferPointer { off in
            layer.experts.withUnsafeBufferPointer { ex in
                for t in 0..<n {
                    let s = Int(off[t]), k = Int(off[t + 1]) - s
                    let p = pref[t]
                    if p >= 0 {
                        var taken = false
                        for j in s..<(s + k) where ex[j] == p { taken = true; break }
                        if !taken { dropped += 1 }
                    } else if k == 0 {
                        dropped += 1
                    }
                }
            }}}
        } else {
            if countsPreferred == nil { countsPreferred = false }
            dropped += without
        }

        if let positions, positionExpert != nil {
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
        let classCount = classCount
        if levelTable.count < (mostExperts + 1) * classCount {
            levelTable.append(contentsOf: repeatElement(0, count: (mostExperts + 1) * classCount - levelTable.count))
        }
        layer.offsets.withUnsafeBufferPointer { off in
        layer.experts.withUnsafeBufferPointer { ex in
        classExpert.withUnsafeMutableBufferPointer { ce in
        levelTable.withUnsafeMutableBufferPointer { lv in
            func count(_ t: Int, _ c: Int) {
                let s = Int(off[t]), end = Int(off[t + 1])
                lv[(end - s) * classCount + c] += 1
                for j in s..<end { ce[c * e + Int(ex[j])] += 1 }
            }
            if let labels {
                labels.withUnsafeBufferPointer { lab in
                    for t in 0..<n { count(t, Int(lab[t])) }
                }
            } else {
                for t in 0..<n { count(t, 0) }
            }
        }}}}

        // Router probabilities: confidence, entropy, class × expert sums.
        let place = "layer \(layer.layer)"
        func bad(_ what: String, _ t: Int, _ value: Float, _ expected: String) -> InputError {
            InputError(file: source, location: "\(place), token \(firstToken + t)", message: "\(what) is \(value), expected \(expected)")
        }
        if let top = layer.topProbability, first || confidenceSum != nil {
            var s = confidenceSum ?? 0
            try top.withUnsafeBufferPointer { v in
                for t in 0..<n {
                    guard v[t].isFinite && v[t] >= 0 else { throw bad("top probability", t, v[t], "a finite value ≥ 0") }
                    s += Double(v[t])
                }
            }
            confidenceSum = s
        } else if layer.probabilities == nil {
            confidenceSum = nil
        }
        if let entropy = layer.routerEntropy, first || recordedEntropySum != nil {
            var s = recordedEntropySum ?? 0
            try entropy.withUnsafeBufferPointer { v in
                for t in 0..<n {
                    guard v[t].isFinite && v[t] >= -1e-4 else { throw bad("router entropy", t, v[t], "a finite value ≥ 0") }
                    s += Double(v[t])
                }
            }
            recordedEntropySum = s
        } else {
            recordedEntropySum = nil
        }
        if let probabilities = layer.probabilities, first || probabilityByClass != nil {
            var byClass = probabilityByClass ?? [Double](repeating: 0, count: classCount * e)
            let needConfidence = layer.topProbability == nil, needEntropy = layer.routerEntropy == nil
            var cs = confidenceSum ?? 0, es = computedEntropySum ?? 0
            var distributions = true   // every row sums to 1 (within the NPY reader's 10⁻³)
            try probabilities.withUnsafeBufferPointer { pr in
            try byClass.withUnsafeMutableBufferPointer { bc in
                for t in 0..<n {
                    let row = pr.baseAddress! + t * e
                    let out = bc.baseAddress! + Int(labels?[t] ?? 0) * e
                    var largest: Float = -1, h = 0.0, total = 0.0
                    for j in 0..<e {
                        let p = row[j]
                        guard p.isFinite && p >= 0 else {
                            throw InputError(file: source, location: "\(place), token \(firstToken + t), expert \(j)",
                                             message: "router probability is \(p), expected a finite value ≥ 0")
                        }
                        out[j] += Double(p)
                        if p > largest { largest = p }
                        if needEntropy && p > 0 { h -= Double(p) * log(Double(p)) }
                        total += Double(p)
                    }
                    if needConfidence { cs += Double(largest) }
                    if needEntropy { es += h }
                    if abs(total - 1) > 1e-3 { distributions = false }
                }
            }}
            if needConfidence && (first || confidenceSum != nil) { confidenceSum = cs }
            computedEntropySum = needEntropy && distributions && (first || computedEntropySum != nil) ? es : nil
            probabilityByClass = byClass
        } else {
            probabilityByClass = nil
            computedEntropySum = nil
        }
    }

    /// Mean largest router probability, or nil.
    var routerConfidence: Double? { confidenceSum.map { $0 / Double(tokens) } }
    /// Mean router entropy in nats: as recorded when every range recorded it, else from the full
    /// probabilities when every range had them as distributions; nil otherwise.
    var meanRouterEntropy: Double? { (recordedEntropySum ?? computedEntropySum).map { $0 / Double(tokens) } }
    /// Tokens by number of experts and class: `levels[k][c]`.
    var levels: [[Double]] {
        (0..<(levelTable.count / max(classCount, 1))).map { Array(levelTable[($0 * classCount)..<(($0 + 1) * classCount)]) }
    }
    /// Tokens per class (for the probability means).
    var classTokens: [Double] {
        let levels = levels
        var out = [Double](repeating: 0, count: classCount)
        for c in 0..<classCount {
            for k in levels.indices { out[c] += levels[k][c] }
        }
        return out
    }
    var droppedDefinition: String { countsPreferred == true ? "preferred_expert_not_taken" : "no_expert" }
}

/// Each token's first expert in `layer` (-1 = none): the preferred expert when recorded, else
/// the assigned expert with the largest weight (first on ties), else the argmax of the router
/// probabilities (first on ties).
func firstExperts(_ layer: LayerRouting, expertCount e: Int) -> [Int32] {
    let n = layer.offsets.count - 1
    var top1 = [Int32](repeating: -1, count: n)
    layer.offsets.withUnsafeBufferPointer { off in
    layer.experts.withUnsafeBufferPointer { ex in
    layer.weights.withUnsafeBufferPointer { w in
    top1.withUnsafeMutableBufferPointer { top in
        for t in 0..<n {
            var best: Int32 = -1
            var bestWeight: Float = -1
            for j in Int(off[t])..<Int(off[t + 1]) where w[j] > bestWeight {
                bestWeight = w[j]
                best = ex[j]
            }
            top[t] = best
        }
    }}}}
    if let preferred = layer.preferredExpert {
        for t in 0..<n where preferred[t] >= 0 { top1[t] = preferred[t] }
    }
    if let probabilities = layer.probabilities {
        probabilities.withUnsafeBufferPointer { pr in
            for t in 0..<n where top1[t] < 0 {
                var largest: Float = -1, arg: Int32 = -1
                for j in 0..<e where pr[t * e + j] > largest {
                    largest = pr[t * e + j]
                    arg = Int32(j)
                }
                top1[t] = arg
            }
        }
    }
    return top1
}
