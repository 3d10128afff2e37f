/// Expert capacity (Switch Transformers, Fedus et al. 2021, §2.2; GShard): each expert takes at
/// most C = ⌈cf·a/E⌉ of the a assignments of a routing group, and the rest are dropped (their
/// tokens pass through the residual connection).
public enum ExpertCapacity {
    /// The largest capacity factor any router accepts: beyond E it cannot bind, and 10⁶ keeps
    /// cf·a far from integer overflow.
    public static let maximumFactor = 1e6

    /// ⌈factor · assignments / E⌉, at least 1 (0 when there are no assignments).
    public static func tokens(factor: Double, assignments: Int, experts: Int) -> Int {
        guard assignments > 0 else { return 0 }
        // The small slack keeps exact products (1.25 · 6400 / 4 = 2000) from rounding up past them.
        let c = (factor * Double(assignments) / Double(experts) - 1e-9).rounded(.up)
        return max(1, c >= Double(Int.max / 2) ? Int.max / 2 : Int(c))
    }

    /// Throws unless `factor` is a finite number in (0, ``maximumFactor``].
    public static func validate(_ factor: Double, router: String, field: String) throws {
        try RouterOption.check(factor > 0 && factor <= maximumFactor, router: router, field: field, value: factor,
                               allowed: "a finite number > 0 and ≤ 1000000")
    }

    /// Which tokens lose when an expert's buffer is full.
    public enum DropPolicy: String, Codable, Sendable {
        /// Tokens claim buffers in token order; the last ones are dropped (Switch, GShard).
        case tokenOrder
        /// Tokens claim buffers in order of decreasing score; the least confident are dropped
        /// (batch-prioritised routing, Riquelme et al. 2021).
        case byScore
    }

    /// Decides which of the tokens' first choices fit: `choices[t]` is token t's expert,
    /// `scores[t]` its score (read for `.byScore`); within each routing group (token ranges) each
    /// expert keeps at most `capacity(groupTokens)` tokens. Writes `kept[t]` and returns the
    /// kept tokens per expert over all groups.
    public static func keep(choices: UnsafePointer<Int32>, scores: (Int) -> Float, groups: [Range<Int>],
                            experts e: Int, policy: DropPolicy, capacity: (Int) -> Int,
                            kept: UnsafeMutablePointer<Bool>) -> [Int] {
        var loads = [Int](repeating: 0, count: e)
        var groupLoads = [Int](repeating: 0, count: e)
        for group in groups {
            let c = capacity(group.count)
            for j in 0..<e { groupLoads[j] = 0 }
            // Tokens claim their expert's buffer in order: by position, or by decreasing score.
            let order: [Int]? = policy == .byScore
                ? Array(group).sorted { a, b in
                    let sa = scores(a), sb = scores(b)
                    return sa > sb || (sa == sb && a < b)
                }
                : nil
            for q in 0..<group.count {
                let t = order?[q] ?? group.lowerBound + q, choice = Int(choices[t])
                kept[t] = groupLoads[choice] < c
                if kept[t] { groupLoads[choice] += 1 }
            }
            for j in 0..<e { loads[j] += groupLoads[j] }
        }
        return loads
    }
}

/// Checks for router options, with errors that name the option, its value and what is allowed.
public enum RouterOption {
    /// Throws a ``RouterConfigurationError`` unless `ok`.
    public static func check(_ ok: Bool, router: String, field: String, value: Any, allowed: String) throws {
        if !ok { throw RouterConfigurationError(router: router, field: field, value: "\(value)", allowed: allowed) }
    }
}
