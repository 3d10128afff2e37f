import SwitchyardFileIO
import SwitchyardTraces

/// The largest position and class count the statistics accept (tables are rows × E).
let maximumTableRows = 1 << 20

/// The largest class × (layer, expert) table the class statistics build (512 MiB of doubles).
let maximumClassCells = 1 << 26

/// The largest position × (layer, expert) table the position statistics are computed for.
let maximumPositionCells = 1 << 24

/// What validation learned about a trace that the analysis needs.
struct TraceShape {
    /// Classes (labels are `0..<classCount`); 1 when the trace has no labels.
    var classCount: Int
    /// Whether the trace has labels.
    var hasLabels: Bool
    /// Rows of the position × expert tables (largest position + 1); 0 without positions
    /// or when the table over all layers (positions × layers × E) would exceed
    /// ``maximumPositionCells`` cells.
    var positionCount: Int
}

/// Checks that a trace is complete and consistent before any statistic reads it, so
/// that bad input is an ``InputError`` naming the place and value, never a crash.
func checkTrace(_ trace: RoutingTrace, source: String?) throws -> TraceShape {
    func fail(_ location: String?, _ message: String) -> InputError {
        InputError(file: source, location: location, message: message)
    }
    let n = trace.tokenCount, e = trace.expertCount
    guard e >= 1 else { throw fail("header", "expert count is \(e), expected at least 1") }
    guard e <= maximumTableRows else {
        throw fail("header", "expert count is \(e), expected at most \(maximumTableRows)")
    }
    guard n >= 1 else { throw fail("header", "token count is \(n), expected at least 1") }
    guard n < Int(Int32.max) else { throw fail("header", "token count is \(n), expected below 2^31") }
    guard !trace.layers.isEmpty else { throw fail("header", "the trace has no layers") }
    try trace.validateRoutingGroups(file: source)
    if let domains = trace.domains {
        guard domains.count == n else { throw fail("domains", "\(domains.count) domains for \(n) tokens") }
        if let t = domains.firstIndex(where: { $0 < 0 || Int($0) >= RoutingTrace.maximumDomainCount }) {
            throw fail("domains, token \(t)", "domain is \(domains[t]), expected 0..<\(RoutingTrace.maximumDomainCount)")
        }
    }
    guard trace.classCount >= 0 else {
        throw fail("header", "class count is \(trace.classCount), expected 0 or more")
    }

    var classCount = trace.classCount
    if let labels = trace.labels {
        guard labels.count == n else {
            throw fail("labels", "\(labels.count) labels for \(n) tokens")
        }
        var largest: Int32 = -1
        let limit = trace.classCount > 0 ? Int32(clamping: trace.classCount) : Int32.max
        try labels.withUnsafeBufferPointer { lab in
            for t in 0..<n {
                let label = lab[t]
                if label < 0 || label >= limit {
                    let range = trace.classCount > 0 ? "0..<\(trace.classCount)" : "0 or more"
                    throw fail("labels, token \(t)", "label is \(label), expected \(range)")
                }
                largest = max(largest, label)
            }
        }
        if classCount == 0 { classCount = Int(largest) + 1 }
        try checkClassTable(classes: classCount, largestLabel: largest, layers: trace.layers.count, experts: e, source: source)
    }
    var positionCount = 0
    if let positions = trace.positions {
        guard positions.count == n else {
            throw fail("positions", "\(positions.count) positions for \(n) tokens")
        }
        positionCount = try largestPosition(positions, firstToken: 0, source: source) + 1
    }

    for (i, layer) in trace.layers.enumerated() {
        let place = "layer \(layer.layer) (entry \(i))"
        guard layer.offsets.count == n + 1 else {
            throw fail(place, "\(layer.offsets.count) offsets, expected token count + 1 = \(n + 1)")
        }
        guard layer.offsets[0] == 0 else { throw fail("\(place), offset 0", "is \(layer.offsets[0]), expected 0") }
        guard Int(layer.offsets[n]) == layer.experts.count else {
            throw fail("\(place), offset \(n)",
                       "is \(layer.offsets[n]), expected the number of assignments \(layer.experts.count)")
        }
        guard layer.weights.count == layer.experts.count else {
            throw fail(place, "\(layer.weights.count) weights for \(layer.experts.count) assignments")
        }
        try layer.offsets.withUnsafeBufferPointer { off in
            for t in 0..<n where off[t + 1] < off[t] {
                throw fail("\(place), token \(t)",
                           "offsets decrease from \(off[t]) to \(off[t + 1]), expected non-decreasing")
            }
        }
        try layer.experts.withUnsafeBufferPointer { ex in
            for j in 0..<ex.count where ex[j] < 0 || Int(ex[j]) >= e {
                throw fail("\(place), assignment \(j)", "expert is \(ex[j]), expected 0..<\(e)")
            }
        }
        try layer.weights.withUnsafeBufferPointer { w in
            for j in 0..<w.count where !(w[j] >= 0) || !w[j].isFinite {
                throw fail("\(place), assignment \(j)", "weight is \(w[j]), expected a finite value ≥ 0")
            }
        }
        if let v = layer.topProbability, v.count != n {
            throw fail(place, "\(v.count) top probabilities for \(n) tokens")
        }
        if let v = layer.routerEntropy, v.count != n {
            throw fail(place, "\(v.count) router entropies for \(n) tokens")
        }
        if let v = layer.probabilities, v.count != n * e {
            throw fail(place, "\(v.count) router probabilities, expected tokens × experts = \(n * e)")
        }
        if let v = layer.sharedGate {
            guard v.count == n else { throw fail(place, "\(v.count) shared-expert gates for \(n) tokens") }
            if let t = v.firstIndex(where: { !($0.isFinite && $0 >= 0 && $0 <= 1) }) {
                throw fail("\(place), token \(t)", "shared-expert gate is \(v[t]), expected a finite value in [0, 1]")
            }
        }
        if let v = layer.preferredExpert {
            guard v.count == n else { throw fail(place, "\(v.count) preferred experts for \(n) tokens") }
            try v.withUnsafeBufferPointer { pref in
                for t in 0..<n where pref[t] < -1 || Int(pref[t]) >= e {
                    throw fail("\(place), token \(t)", "preferred expert is \(pref[t]), expected 0..<\(e) or -1 (unknown)")
                }
            }
        }
        if let c = layer.capacity, c < 1 {
            throw fail(place, "capacity is \(c), expected at least 1")
        }
    }
    if positionCount * trace.layers.count * e > maximumPositionCells { positionCount = 0 }
    return TraceShape(classCount: max(classCount, 1), hasLabels: trace.labels != nil,
                      positionCount: positionCount)
}

/// The class × (layer, expert) tables' bounds: at most ``maximumTableRows`` classes and
/// ``maximumClassCells`` cells.
func checkClassTable(classes: Int, largestLabel: Int32, layers: Int, experts e: Int, source: String?) throws {
    guard classes <= maximumTableRows else {
        throw InputError(file: source, location: "labels", message: "\(classes) classes, expected at most \(maximumTableRows)")
    }
    let cells = classes * layers * e
    guard cells <= maximumClassCells else {
        throw InputError(file: source, location: "labels",
                         message: "\(classes) classes (labels 0...\(largestLabel)) × \(layers) layers × \(e) experts "
                            + "= \(cells) table cells, expected at most \(maximumClassCells); renumber the labels densely")
    }
}

/// The largest of `positions` (−1 for none), tokens numbered from `firstToken`; a position
/// outside 0..<``maximumTableRows`` is an error naming the token.
func largestPosition(_ positions: [Int32], firstToken: Int, source: String?) throws -> Int {
    var largest: Int32 = -1
    try positions.withUnsafeBufferPointer { pos in
        for t in 0..<pos.count {
            let p = pos[t]
            guard p >= 0 && Int(p) < maximumTableRows else {
                throw InputError(file: source, location: "positions, token \(firstToken + t)",
                                 message: "position is \(p), expected 0..<\(maximumTableRows)")
            }
            largest = max(largest, p)
        }
    }
    return Int(largest)
}
