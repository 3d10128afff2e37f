import SwitchyardTensorCore

/// A router's decision for one routing group of `tokenCount` tokens: for each expert,
/// the tokens it takes and their combine weights, plus what the statistics and the
/// training loop need to know about the decision.
///
/// Assignments are stored grouped by expert (compressed-sparse-row form): the tokens
/// of expert `e` are `tokens[expertOffsets[e] ..< expertOffsets[e + 1]]`, with their
/// weights at the same positions of `weights`. The MoE layer gathers each expert's
/// tokens into one contiguous buffer, runs the expert, and scatter-adds
/// `weight · FFN_e(x_t)` into the output of token `t`.
///
/// A plan is reused across steps: routers call ``reset(tokenCount:expertCount:)`` and
/// then ``append(expert:token:weight:)`` expert by expert, so no step allocates.
public final class RoutingPlan: @unchecked Sendable {
    /// The number of tokens routed.
    public private(set) var tokenCount = 0
    /// The number of experts.
    public private(set) var expertCount = 0
    /// Token indices grouped by expert.
    public private(set) var tokens: [Int32] = []
    /// Combine weights, aligned with ``tokens``.
    public private(set) var weights: [Float] = []
    /// Start of each expert's group in ``tokens``; length expertCount + 1.
    public private(set) var expertOffsets: [Int] = [0]

    /// The router's probabilities (tokenCount × expertCount) when it has them, else nil: each
    /// row a distribution over the experts (non-negative, summing to 1), which traces check.
    /// A sigmoid gate's scores are not one; leave this nil or give s/Σs. Written by the router;
    /// read by traces and statistics.
    public var probabilities: Tensor?
    /// Each token's first-choice expert before any capacity limit (−1 for none), or
    /// empty when the router has no preference (random routers).
    public var preferredExpert: [Int32] = []
    /// The per-expert capacity the router enforced, summed over the call's routing groups (each
    /// group has its own), or nil for none.
    public var capacity: Int?
    /// The auxiliary loss, already multiplied by its weights (0 when the router has none).
    public var auxiliaryLoss: Float = 0
    /// The auxiliary loss's named terms (e.g. "balance", "z"), weighted, for metrics
    /// (`metrics.jsonl`'s `auxiliaryTerms`).
    public var auxiliaryTerms: [(name: String, value: Float)] = []
    /// Scalars the router wants logged per step besides its losses (a bias's range, a λ), for
    /// `metrics.jsonl`'s `routerScalars`.
    public var scalars: [(name: String, value: Float)] = []
    /// The soft part of the plan (Soft MoE): dispatch and combine weights per routing group,
    /// or nil for a sparse plan. Set with ``makeSoft(slotsPerExpert:groups:)``.
    public private(set) var soft: SoftDispatch?
    private var softStorage: SoftDispatch?
    /// The sparse record of a soft plan (``statisticsPlan``), rebuilt after each reset.
    var softRecord: RoutingPlan?
    var softRecordIsCurrent = false

    /// The token index of ``withTokenIndex(_:)``: `tokenOffsets[t] ..< tokenOffsets[t + 1]` are
    /// the positions in `tokenEntries` of token t's assignments, in increasing order.
    private var tokenOffsets: [Int32] = []
    private var tokenEntries: [Int32] = []
    private var tokenIndexIsCurrent = false

    /// An empty plan.
    public init() {}

    /// Clears the plan for a new routing group; keeps the storage.
    public func reset(tokenCount: Int, expertCount: Int) {
        tokenIndexIsCurrent = false
        self.tokenCount = tokenCount
        self.expertCount = expertCount
        tokens.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
        expertOffsets.removeAll(keepingCapacity: true)
        expertOffsets.append(0)
        preferredExpert.removeAll(keepingCapacity: true)
        capacity = nil
        auxiliaryLoss = 0
        auxiliaryTerms.removeAll(keepingCapacity: true)
        scalars.removeAll(keepingCapacity: true)
        soft = nil
        softRecordIsCurrent = false
    }

    /// Makes this a soft plan of `slotsPerExpert` slots per expert for the routing groups
    /// `groups` (token ranges covering 0..<tokenCount in order), reusing its storage, and returns
    /// it for the router to fill. Call after ``reset(tokenCount:expertCount:)``; the sparse
    /// part stays empty (``finish()`` still closes it).
    public func makeSoft(slotsPerExpert: Int, groups: [Range<Int>]) -> SoftDispatch {
        let storage = softStorage ?? SoftDispatch()
        softStorage = storage
        storage.reset(tokenCount: tokenCount, expertCount: expertCount, slotsPerExpert: slotsPerExpert, groups: groups)
        soft = storage
        return storage
    }

    /// The expert whose group ``append(expert:token:weight:)`` is filling.
    public var currentExpert: Int { expertOffsets.count - 1 }

    /// Adds `token` with `weight` to `expert`'s group. Experts must be filled in order
    /// 0, 1, …, E−1; an expert may be skipped (it then takes no tokens).
    public func append(expert: Int, token: Int, weight: Float) {
        precondition(expert >= currentExpert && expert < expertCount,
                     "experts must be filled in increasing order (at \(currentExpert), got \(expert))")
        precondition(token >= 0 && token < tokenCount, "token \(token) out of 0..<\(tokenCount)")
        tokenIndexIsCurrent = false
        while currentExpert < expert { expertOffsets.append(tokens.count) }
        tokens.append(Int32(token))
        weights.append(weight)
    }

    /// Closes the remaining expert groups; call after the last ``append(expert:token:weight:)``.
    public func finish() {
        while expertOffsets.count < expertCount + 1 { expertOffsets.append(tokens.count) }
    }

    /// Fills the plan from per-expert lists in one go (for routers that build lists).
    public func set(assignments: [[(token: Int, weight: Float)]]) {
        precondition(assignments.count == expertCount, "need one list per expert")
        for (e, list) in assignments.enumerated() {
            for a in list { append(expert: e, token: a.token, weight: a.weight) }
        }
        finish()
    }

    /// Fills the plan in one go from the number of tokens each expert takes: sizes ``tokens``
    /// and ``weights`` to Σ `loads` and the expert groups to match, then calls `fill` with
    /// the two arrays (expert e's group is `expertOffsets[e] ..< expertOffsets[e + 1]`, also
    /// passed), which must write every entry, each expert's tokens in increasing order. Use
    /// after ``reset(tokenCount:expertCount:)`` instead of ``append(expert:token:weight:)``
    /// and ``finish()``; nothing grows per assignment. Every token index is checked to lie
    /// in `0..<tokenCount` after `fill` returns.
    public func setAssignments(loads: UnsafeBufferPointer<Int>,
                               _ fill: (_ tokens: UnsafeMutablePointer<Int32>, _ weights: UnsafeMutablePointer<Float>,
                                        _ expertOffsets: UnsafePointer<Int>) -> Void) {
        precondition(loads.count == expertCount, "need one load per expert")
        tokenIndexIsCurrent = false
        expertOffsets.removeAll(keepingCapacity: true)
        expertOffsets.append(0)
        var total = 0
        for load in loads {
            precondition(load >= 0, "negative expert load")
            total += load
            expertOffsets.append(total)
        }
        tokens.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
        tokens.append(contentsOf: repeatElement(0, count: total))
        weights.append(contentsOf: repeatElement(0, count: total))
        expertOffsets.withUnsafeBufferPointer { offsets in
            tokens.withUnsafeMutableBufferPointer { t in
                weights.withUnsafeMutableBufferPointer { w in
                    fill(t.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, w.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!,
                         offsets.baseAddress!)
                }
            }
        }
        // Checked in every build: the token index and the MoE layer's gathers trust these.
        let limit = Int32(clamping: tokenCount)
        precondition(tokens.allSatisfy { $0 >= 0 && $0 < limit }, "setAssignments: a token is out of 0..<\(tokenCount)")
    }

    /// Calls `body(offsets, entries)` with the plan's assignments indexed by token: token t's
    /// assignments are the positions `entries[q]` (into ``tokens`` and ``weights``) for `q` in
    /// `offsets[t] ..< offsets[t + 1]`, in increasing order; `offsets` has ``tokenCount`` + 1
    /// elements. Built in O(n + assignments) on first use after the plan changes, then kept.
    public func withTokenIndex<R>(_ body: (_ offsets: UnsafePointer<Int32>, _ entries: UnsafePointer<Int32>) throws -> R) rethrows -> R {
        if !tokenIndexIsCurrent { buildTokenIndex() }
        return try tokenOffsets.withUnsafeBufferPointer { o in
            try tokenEntries.withUnsafeBufferPointer { e in
                try body(o.baseAddress!, e.baseAddress ?? UnsafePointer(bitPattern: 8)!)
            }
        }
    }

    /// Counting sort of the assignment positions by token (stable, so increasing per token).
    private func buildTokenIndex() {
        let n = tokenCount, a = tokens.count
        tokenOffsets.removeAll(keepingCapacity: true)
        tokenOffsets.append(contentsOf: repeatElement(0, count: n + 1))
        tokenEntries.removeAll(keepingCapacity: true)
        tokenEntries.append(contentsOf: repeatElement(0, count: a))
        tokens.withUnsafeBufferPointer { tk in
            tokenOffsets.withUnsafeMutableBufferPointer { off in
                tokenEntries.withUnsafeMutableBufferPointer { ent in
                    let o = off.baseAddress!
                    for i in 0..<a { o[Int(tk[i]) + 1] += 1 }
                    for t in 0..<n { o[t + 1] += o[t] }
                    // Fill with o[t] as the cursor of token t, then shift back.
                    for i in 0..<a {
                        let t = Int(tk[i])
                        ent[Int(o[t])] = Int32(i)
                        o[t] += 1
                    }
                    var t = n
                    while t > 0 { o[t] = o[t - 1]; t -= 1 }
                    o[0] = 0
                }
            }
        }
        tokenIndexIsCurrent = true
    }

    /// The range of ``tokens`` and ``weights`` that belongs to expert `e`.
    @inlinable public func range(ofExpert e: Int) -> Range<Int> { expertOffsets[e] ..< expertOffsets[e + 1] }

    /// The number of tokens expert `e` takes.
    public func load(ofExpert e: Int) -> Int { expertOffsets[e + 1] - expertOffsets[e] }

    /// The total number of (token, expert) assignments.
    public var assignmentCount: Int { tokens.count }

    /// True when the plan sends every token, in order, to expert 0 with weight 1 and to no other
    /// expert (the dense router's plan): an MoE layer can then run its expert on the input as it
    /// is. O(n).
    public var isIdentity: Bool {
        guard expertOffsets.count >= 2, tokens.count == tokenCount, load(ofExpert: 0) == tokenCount else { return false }
        for i in 0..<tokenCount where tokens[i] != Int32(i) || weights[i] != 1 { return false }
        return true
    }

    /// How many experts took each token.
    public func expertsPerToken() -> [Int] {
        var counts = [Int](repeating: 0, count: tokenCount)
        for t in tokens { counts[Int(t)] += 1 }
        return counts
    }
}
