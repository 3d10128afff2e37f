import SwitchyardFileIO
import Foundation

/// One broken invariant of a ``RoutingTrace``: where it is (layer, array, element) and
/// what is wrong. ``RoutingTrace/validate(file:)`` turns it into an `InputError`; the
/// `.sytrace` reader also maps it to the byte offset of the offending element.
struct TraceViolation: Error, Sendable {
    /// The position of the layer in ``RoutingTrace/layers`` (not its block number), or nil
    /// for a trace-level field.
    var layerIndex: Int?
    /// The block number of that layer, for the message.
    var layerNumber: Int?
    /// The field: "offsets", "experts", "labels", "expertCount", …
    var field: String
    /// The element of the array concerned, or nil when the array as a whole is wrong.
    var element: Int?
    /// The token the element belongs to, when that is not the element index itself.
    var token: Int?
    /// What is wrong, including the offending value.
    var message: String

    /// "layer 3, token 7, experts[21]" or "labels[4]" or "expertCount".
    var location: String {
        var parts: [String] = []
        if let layerIndex {
            if let layerNumber, layerNumber != layerIndex {
                parts.append("layer \(layerNumber) (entry \(layerIndex))")
            } else {
                parts.append("layer \(layerNumber ?? layerIndex)")
            }
        }
        if let token { parts.append("token \(token)") }
        if let element { parts.append("\(field)[\(element)]") } else { parts.append(field) }
        return parts.joined(separator: ", ")
    }
}

extension RoutingTrace {
    /// The largest ``expertCount`` a trace may declare (2²⁰, the scale of PEER's million
    /// experts). The statistics allocate per-expert tables, so a corrupt count must not
    /// reach them.
    public static let maximumExpertCount = 1 << 20
    /// The largest ``classCount`` a trace may declare: 2³¹ − 1, so that labels are 32-bit
    /// (token ids of any vocabulary; the statistics renumber the labels that occur).
    public static let maximumClassCount = Int(Int32.max)
    /// The most domains a trace may have (``domains``): 2¹⁶.
    public static let maximumDomainCount = 1 << 16

    /// Checks every invariant of the trace and throws an `InputError` naming `file`, the
    /// layer, token and field concerned and the offending value:
    ///
    /// - `1 ≤ expertCount ≤ maximumExpertCount`, `tokenCount ≥ 0`,
    ///   `0 ≤ classCount ≤ maximumClassCount`, `classNames` empty or `classCount` long;
    /// - at least one layer, block numbers ≥ 0 and strictly increasing;
    /// - per layer: `offsets` has `tokenCount + 1` entries, starts at 0, never decreases
    ///   and ends at `experts.count`; `weights` as long as `experts`; every expert in
    ///   `0..<expertCount` and no expert twice for one token; weights finite and ≥ 0;
    /// - optional per-token arrays have `tokenCount` entries (`probabilities`
    ///   `tokenCount × expertCount`); probabilities (top and full) finite in [0, 1];
    ///   entropies finite in [0, ln expertCount] (with 1e-4 slack for rounding);
    ///   preferred experts in `0..<expertCount`; capacity ≥ 0;
    /// - labels in `0..<classCount` or −1 (unknown); positions ≥ −1 (−1 = unknown);
    /// - domains, when given, one per token in `0..<maximumDomainCount`, with at least as
    ///   many names as domains, or none;
    /// - routing groups, when given, each ≥ 1 token and summing to `tokenCount`.
    ///
    /// It never allocates memory in proportion to `expertCount` or `classCount`, so it is
    /// safe on a trace read from an untrusted file.
    public func validate(file: String? = nil) throws {
        if let violation = firstViolation() {
            throw InputError(file: file, location: violation.location, message: violation.message)
        }
    }

    /// The first broken invariant, or nil when the trace is consistent.
    func firstViolation() -> TraceViolation? {
        func traceLevel(_ field: String, _ element: Int? = nil, _ message: String) -> TraceViolation {
            TraceViolation(layerIndex: nil, layerNumber: nil, field: field, element: element, token: nil,
                           message: message)
        }
        if expertCount < 1 || expertCount > RoutingTrace.maximumExpertCount {
            return traceLevel("expertCount", nil,
                              "expert count is \(expertCount), expected 1…\(RoutingTrace.maximumExpertCount)")
        }
        if tokenCount < 0 || tokenCount >= Int(Int32.max) {
            return traceLevel("tokenCount", nil, "token count is \(tokenCount), expected 0…\(Int32.max - 1)")
        }
        if classCount < 0 || classCount > RoutingTrace.maximumClassCount {
            return traceLevel("classCount", nil,
                              "class count is \(classCount), expected 0…\(RoutingTrace.maximumClassCount)")
        }
        if !classNames.isEmpty && classNames.count != classCount {
            return traceLevel("classNames", nil,
                              "\(classNames.count) class names for a class count of \(classCount) (expected \(classCount) or none)")
        }
        if let labels {
            if labels.count != tokenCount {
                return traceLevel("labels", nil, "\(labels.count) labels for \(tokenCount) tokens")
            }
            let bad = labels.withUnsafeBufferPointer { p -> Int? in
                let c = Int32(classCount)
                for i in 0..<p.count where p[i] < -1 || p[i] >= c { return i }
                return nil
            }
            if let bad {
                return traceLevel("labels", bad,
                                  "label \(labels[bad]) is outside 0..<\(classCount) (the class count) and is not −1 (unknown)")
            }
        }
        if let positions {
            if positions.count != tokenCount {
                return traceLevel("positions", nil, "\(positions.count) positions for \(tokenCount) tokens")
            }
            let bad = positions.withUnsafeBufferPointer { p -> Int? in
                for i in 0..<p.count where p[i] < -1 { return i }
                return nil
            }
            if let bad {
                return traceLevel("positions", bad, "position \(positions[bad]) is negative and not −1 (unknown)")
            }
        }
        if let domains {
            if domains.count != tokenCount {
                return traceLevel("domains", nil, "\(domains.count) domains for \(tokenCount) tokens")
            }
            if let bad = domains.firstIndex(where: { $0 < 0 || Int($0) >= RoutingTrace.maximumDomainCount }) {
                return traceLevel("domains", bad, "domain \(domains[bad]) is outside 0..<\(RoutingTrace.maximumDomainCount)")
            }
            let count = Int(domains.max() ?? -1) + 1
            if !domainNames.isEmpty && domainNames.count < count {
                return traceLevel("domainNames", nil, "\(domainNames.count) domain names for domains 0…\(count - 1)")
            }
        } else if !domainNames.isEmpty {
            return traceLevel("domainNames", nil, "domain names without domains")
        }
        if let violation = routingGroupsViolation() { return violation }
        if layers.isEmpty {
            return traceLevel("layers", nil, "the trace has no layer")
        }
        for (index, layer) in layers.enumerated() {
            if layer.layer < 0 {
                return traceLevel("layers[\(index)].layer", nil, "block number \(layer.layer) is negative")
            }
            if index > 0 && layer.layer <= layers[index - 1].layer {
                return traceLevel("layers[\(index)].layer", nil, "block number \(layer.layer) does not follow \(layers[index - 1].layer): layers must be in increasing model order")
            }
            if let v = layer.firstViolation(index: index, tokenCount: tokenCount, expertCount: expertCount) {
                return v
            }
        }
        return nil
    }
}

extension RoutingTrace {
    /// The first broken invariant of ``routingGroups`` (each ≥ 1 token, summing to
    /// ``tokenCount``), or nil. Safe on any sizes: nothing is added that could overflow.
    func routingGroupsViolation() -> TraceViolation? {
        guard let routingGroups else { return nil }
        func violation(_ element: Int?, _ message: String) -> TraceViolation {
            TraceViolation(layerIndex: nil, layerNumber: nil, field: "routingGroups", element: element, token: nil,
                           message: message)
        }
        var total = 0
        for (g, size) in routingGroups.enumerated() {
            if size < 1 { return violation(g, "group of \(size) tokens; every routing group has at least one token") }
            if size > tokenCount - total {
                return violation(g, "group of \(size) tokens, but only \(tokenCount - total) of the trace's \(tokenCount) tokens remain"
                                     + (g > 0 ? " after groups 0..<\(g)" : ""))
            }
            total += size
        }
        if total != tokenCount {
            return violation(nil, "\(routingGroups.count) routing groups hold \(total) tokens, the trace has \(tokenCount)")
        }
        return nil
    }

    /// Checks ``routingGroups`` alone (see ``routingGroupsViolation()``), throwing an
    /// `InputError` naming `file`; for readers of a trace that skip full validation.
    public func validateRoutingGroups(file: String? = nil) throws {
        if let v = routingGroupsViolation() { throw InputError(file: file, location: v.location, message: v.message) }
    }
}

extension LayerRouting {
    /// The first broken invariant of this layer (entry `index` of the trace's layers).
    func firstViolation(index: Int, tokenCount: Int, expertCount: Int) -> TraceViolation? {
        func violation(_ field: String, _ element: Int?, token: Int? = nil, _ message: String) -> TraceViolation {
            TraceViolation(layerIndex: index, layerNumber: layer, field: field, element: element, token: token,
                           message: message)
        }
        // Shapes first, so that the element checks below can trust the lengths.
        if offsets.count != tokenCount + 1 {
            return violation("offsets", nil,
                             "\(offsets.count) offsets, expected token count + 1 = \(tokenCount + 1)")
        }
        if weights.count != experts.count {
            return violation("weights", nil, "\(weights.count) weights for \(experts.count) expert assignments")
        }
        if experts.count > Int(Int32.max) {
            return violation("experts", nil, "\(experts.count) assignments do not fit 32-bit offsets")
        }
        if let a = topProbability, a.count != tokenCount {
            return violation("topProbability", nil, "\(a.count) entries for \(tokenCount) tokens")
        }
        if let a = routerEntropy, a.count != tokenCount {
            return violation("routerEntropy", nil, "\(a.count) entries for \(tokenCount) tokens")
        }
        if let a = probabilities {
            let (expected, overflow) = tokenCount.multipliedReportingOverflow(by: expertCount)
            if overflow || a.count != expected {
                return violation("probabilities", nil,
                                 "\(a.count) entries, expected token count × expert count = \(tokenCount) × \(expertCount)")
            }
        }
        if let a = preferredExpert, a.count != tokenCount {
            return violation("preferredExpert", nil, "\(a.count) entries for \(tokenCount) tokens")
        }
        if let a = sharedGate {
            if a.count != tokenCount {
                return violation("sharedGate", nil, "\(a.count) entries for \(tokenCount) tokens")
            }
            if let bad = LayerRouting.firstOutside(a, 0, 1) {
                return violation("sharedGate", bad, token: bad, "shared-expert gate \(a[bad]) is not a finite number in [0, 1]")
            }
        }
        if let capacity, capacity < 0 {
            return violation("capacity", nil, "capacity \(capacity) is negative")
        }

        // Offsets: 0, non-decreasing, ending at experts.count.
        let offsetProblem: TraceViolation? = offsets.withUnsafeBufferPointer { ob in
            let o = ob.baseAddress!
            if o[0] != 0 { return violation("offsets", 0, "first offset is \(o[0]), expected 0") }
            for t in 0..<tokenCount where o[t + 1] < o[t] {
                return violation("offsets", t + 1, token: t,
                                 "offset \(o[t + 1]) is less than the previous offset \(o[t])")
            }
            if Int(o[tokenCount]) != experts.count {
                return violation("offsets", tokenCount,
                                 "last offset is \(o[tokenCount]), expected the assignment count \(experts.count)")
            }
            return nil
        }
        if let offsetProblem { return offsetProblem }

        // Experts in range and distinct per token; weights finite and ≥ 0. Raw pointers:
        // this loop runs once per assignment, millions of times.
        let assignmentProblem: TraceViolation? = offsets.withUnsafeBufferPointer { ob in
            experts.withUnsafeBufferPointer { eb in
                weights.withUnsafeBufferPointer { wb in
                    guard tokenCount > 0, !eb.isEmpty else { return nil }
                    let o = ob.baseAddress!, e = eb.baseAddress!, w = wb.baseAddress!
                    let limit = Int32(expertCount)
                    var scratch: [Int32] = []
                    for t in 0..<tokenCount {
                        let start = Int(o[t]), end = Int(o[t + 1])
                        var j = start
                        while j < end {
                            let expert = e[j], weight = w[j]
                            if expert < 0 || expert >= limit {
                                return violation("experts", j, token: t,
                                                 "expert \(expert) is outside 0..<\(expertCount) (the expert count)")
                            }
                            if !(weight.isFinite && weight >= 0) {
                                return violation("weights", j, token: t,
                                                 "combine weight \(weight) is not a finite number ≥ 0")
                            }
                            if end - start <= 16 {
                                var i = start
                                while i < j {
                                    if e[i] == expert {
                                        return violation("experts", j, token: t, "expert \(expert) appears twice for the token")
                                    }
                                    i += 1
                                }
                            }
                            j += 1
                        }
                        if end - start > 16, let d = LayerRouting.duplicate(in: eb, from: start, to: end, scratch: &scratch) {
                            return violation("experts", d, token: t, "expert \(eb[d]) appears twice for the token")
                        }
                    }
                    return nil
                }
            }
        }
        if let assignmentProblem { return assignmentProblem }

        if let a = topProbability, let i = LayerRouting.firstOutside(a, 0, 1) {
            return violation("topProbability", i, "top probability \(a[i]) is not a finite number in [0, 1]")
        }
        if let a = routerEntropy {
            let slack: Float = 1e-4
            let upper = Float(Foundation.log(Double(expertCount))) * (1 + slack) + slack
            if let i = LayerRouting.firstOutside(a, -slack, upper) {
                return violation("routerEntropy", i,
                                 "entropy \(a[i]) is not a finite number in [0, ln \(expertCount) = \(upper)] nats")
            }
        }
        if let a = probabilities, let i = LayerRouting.firstOutside(a, 0, 1) {
            return violation("probabilities", i, token: i / expertCount,
                             "probability \(a[i]) of expert \(i % expertCount) is not a finite number in [0, 1]")
        }
        if let a = preferredExpert {
            let limit = Int32(expertCount)
            let bad = a.withUnsafeBufferPointer { p -> Int? in
                for i in 0..<p.count where p[i] < -1 || p[i] >= limit { return i }
                return nil
            }
            if let bad {
                return violation("preferredExpert", bad,
                                 "preferred expert \(a[bad]) is outside 0..<\(expertCount) (the expert count) and is not -1 (no preference)")
            }
        }
        return nil
    }

    /// The index of the first value that is not finite or lies outside `[low, high]`.
    static func firstOutside(_ values: [Float], _ low: Float, _ high: Float) -> Int? {
        values.withUnsafeBufferPointer { firstOutside($0, low, high) }
    }

    static func firstOutside(_ b: UnsafeBufferPointer<Float>, _ low: Float, _ high: Float) -> Int? {
        guard let p = b.baseAddress else { return nil }
        for i in 0..<b.count {
            let v = p[i]
            // Written so that NaN fails the test.
            if !(v.isFinite && v >= low && v <= high) { return i }
        }
        return nil
    }

    /// The index (in `e`) of the second occurrence of an expert repeated within
    /// `e[start..<end]`, or nil. Short rows are compared pairwise; long rows (Expert
    /// Choice can give a token many experts) are sorted in `scratch`, so the cost never
    /// depends on the expert count.
    static func duplicate(in e: UnsafeBufferPointer<Int32>, from start: Int, to end: Int,
                          scratch: inout [Int32]) -> Int? {
        let n = end - start
        if n < 2 { return nil }
        if n <= 16 {
            for j in (start + 1)..<end {
                for i in start..<j where e[i] == e[j] { return j }
            }
            return nil
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: e[start..<end])
        scratch.sort()
        for i in 1..<n where scratch[i] == scratch[i - 1] {
            let value = scratch[i]
            var seen = false
            for j in start..<end where e[j] == value {
                if seen { return j }
                seen = true
            }
        }
        return nil
    }
}
