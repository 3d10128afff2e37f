import SwitchyardTraces

/// Numbers each distinct set of experts a token can get ("routing pattern"): 0 is the
/// empty set, 1 + e the single expert e, larger ids other sets in order of appearance.
/// Tokens with the same pattern are interchangeable for every count the statistics need,
/// which lets the grouped resampling plan draw cells instead of tokens. Numbering stops
/// at `limit` patterns: top-8 of 64 experts gives nearly every token a set of its own.
final class PatternTable {
    let expertCount: Int
    let limit: Int
    /// The experts of each pattern (CSR; sorted, with repeats when a token has an expert twice).
    private(set) var offsets: [Int32]
    private(set) var members: [Int32]
    private var direct: [Int32]
    private var maskMap: [UInt64: Int32] = [:]
    private var listMap: [[Int32]: Int32] = [:]

    init(expertCount: Int, limit: Int) {
        self.expertCount = expertCount
        self.limit = limit
        offsets = [0] + (0...expertCount).map { Int32($0) }
        members = (0..<expertCount).map { Int32($0) }
        direct = expertCount <= 16 ? [Int32](repeating: -1, count: 1 << expertCount) : []
    }

    /// Number of patterns so far.
    var count: Int { offsets.count - 1 }

    /// The pattern id of the `k` experts at `list`, or −1 when it would be a new pattern
    /// beyond `limit`.
    @inline(__always)
    func id(_ list: UnsafePointer<Int32>, _ k: Int) -> Int32 {
        if k == 0 { return 0 }
        if k == 1 { return 1 + list[0] }
        return idOfSet(list, k)
    }

    private func add(_ list: [Int32]) -> Int32? {
        guard count < limit else { return nil }
        members += list
        offsets.append(Int32(members.count))
        return Int32(count - 1)
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
                    guard let id = add(PatternTable.members(of: mask)) else { return -1 }
                    direct[Int(mask)] = id
                    return id
                }
                if let existing = maskMap[mask] { return existing }
                guard let id = add(PatternTable.members(of: mask)) else { return -1 }
                maskMap[mask] = id
                return id
            }
        }
        let key = Array(UnsafeBufferPointer(start: list, count: k)).sorted()
        if let existing = listMap[key] { return existing }
        guard let id = add(key) else { return -1 }
        listMap[key] = id
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

/// One layer's tokens' experts: each token's routing pattern and each pattern's experts
/// (CSR). A layer with more patterns than ``PatternTable``'s limit has no pattern numbers:
/// each token is its own pattern and the CSR is the layer's routing itself (shared, not
/// copied). Either way the experts a token reaches, and so every count, are the same.
struct PatternMembers {
    /// Each token's pattern; empty when each token is its own pattern.
    let patternOfToken: [Int32]
    let offsets: [Int32]
    let experts: [Int32]

    /// Whether pattern `t` is token `t`.
    var tokenIsPattern: Bool { patternOfToken.isEmpty }
    /// Number of patterns.
    var count: Int { offsets.count - 1 }

    init(patternOfToken: [Int32], table: PatternTable) {
        self.patternOfToken = patternOfToken
        offsets = table.offsets
        experts = table.members
    }

    /// Each token its own pattern: the layer's own offsets and experts.
    init(tokensOf layer: LayerRouting) {
        patternOfToken = []
        offsets = layer.offsets
        experts = layer.experts
    }

    /// The tokens `tokens` (in that order), each its own pattern.
    func restricted(to tokens: [Int]) -> PatternMembers {
        var offsets: [Int32] = [0], experts: [Int32] = []
        withPatterns { pat, identity in
            for t in tokens {
                let p = identity ? t : Int(pat[t])
                experts += self.experts[Int(self.offsets[p])..<Int(self.offsets[p + 1])]
                offsets.append(Int32(experts.count))
            }
        }
        return PatternMembers(patternOfToken: [], offsets: offsets, experts: experts)
    }

    private init(patternOfToken: [Int32], offsets: [Int32], experts: [Int32]) {
        self.patternOfToken = patternOfToken
        self.offsets = offsets
        self.experts = experts
    }

    /// Calls `body` with a pointer to each token's pattern and whether it is the token itself
    /// (then the pointer must not be read).
    @inline(__always)
    func withPatterns<R>(_ body: (UnsafeBufferPointer<Int32>, Bool) throws -> R) rethrows -> R {
        try patternOfToken.withUnsafeBufferPointer { try body($0, tokenIsPattern) }
    }

    /// Adds the assignments per expert of the tokens of units `order[range]` into
    /// `scratch`, appending each expert seen for the first time to `touched`.
    func collect(_ range: Range<Int>, order: UnsafeBufferPointer<Int32>, starts: UnsafeBufferPointer<Int32>,
                 scratch: UnsafeMutableBufferPointer<Int32>, touched: inout [Int32]) {
        withPatterns { pat, identity in
        offsets.withUnsafeBufferPointer { mo in
        experts.withUnsafeBufferPointer { mem in
            for i in range {
                let u = Int(order[i])
                for t in Int(starts[u])..<Int(starts[u + 1]) {
                    let p = identity ? t : Int(pat[t])
                    for j in Int(mo[p])..<Int(mo[p + 1]) {
                        let x = Int(mem[j])
                        if scratch[x] == 0 { touched.append(Int32(x)) }
                        scratch[x] += 1
                    }
                }
            }
        }}}
    }
}
