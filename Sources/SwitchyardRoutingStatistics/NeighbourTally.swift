/// The counts behind ``NeighbourAgreement``'s agreement and chance: neighbour pairs with both
/// first experts, those that agree, and the first experts of the tokens in a pair, added a range
/// of units at a time (the one-pass analysis adds chunks of whole units, or of one unit that spans
/// every chunk when the trace has no units).
struct NeighbourTally {
    var same = 0
    var pairs = 0
    /// First experts of the paired tokens, and how many paired tokens have one.
    var counts: [Double]
    var members = 0.0
    /// Units with at least one pair.
    var units = 0
    /// The last token of the previous chunk of a unit that spans chunks: its first expert, whether
    /// it is in a pair already, and whether it pairs with the next token.
    private var carry: (top1: Int32, member: Bool, pairsOnward: Bool)?

    init(experts e: Int) { counts = [Double](repeating: 0, count: e) }

    private mutating func addMember(_ x: Int32) {
        guard x >= 0 else { return }
        counts[Int(x)] += 1
        members += 1
    }

    private mutating func addPairs(_ p: NeighbourPairs, unit u: Int, _ top1: [Int32]) {
        for i in p.pairStarts[u]..<p.pairStarts[u + 1] {
            let a = top1[Int(p.first[i])], b = top1[Int(p.second[i])]
            guard a >= 0 && b >= 0 else { continue }
            pairs += 1
            if a == b { same += 1 }
        }
        for t in p.members[u] { addMember(top1[Int(t)]) }
    }

    /// Adds every unit of `p`, whose tokens' first experts are `top1`.
    mutating func add(_ p: NeighbourPairs, top1: [Int32]) {
        for u in p.members.indices {
            addPairs(p, unit: u, top1)
            if !p.members[u].isEmpty { units += 1 }
        }
    }

    /// Adds the next chunk of a unit that spans chunks: `p` holds the chunk as one unit, and
    /// `lastPairsOnward` says whether its last token pairs with the next chunk's first.
    mutating func add(continuing p: NeighbourPairs, top1: [Int32], lastPairsOnward: Bool) {
        guard !top1.isEmpty else { return }
        let chunkMembers = p.members.first ?? []
        var firstIsMember = chunkMembers.first == 0
        let hadPair = units > 0
        var paired = false
        if let c = carry, c.pairsOnward {
            let a = c.top1, b = top1[0]
            if a >= 0 && b >= 0 {
                pairs += 1
                if a == b { same += 1 }
            }
            if !c.member { addMember(a) }
            if !firstIsMember { addMember(b); firstIsMember = true }
            paired = true
        }
        if !p.members.isEmpty { addPairs(p, unit: 0, top1) }
        if !hadPair && (paired || !chunkMembers.isEmpty) { units = 1 }
        let last = top1.count - 1
        carry = (top1[last], chunkMembers.last == Int32(last) || (last == 0 && firstIsMember), lastPairsOnward)
    }

    /// The observed agreement and its chance baseline, without a permutation test.
    func result(layer: Int, neighbours: String) -> NeighbourAgreement {
        var result = NeighbourAgreement(layer: layer, neighbours: neighbours, pairs: pairs, agreement: nil,
                                        chance: nil, permutationMean: nil, permutationP: nil, permutations: 0)
        result.units = units
        guard pairs > 0 else { return result }
        result.agreement = Double(same) / Double(pairs)
        result.chance = counts.reduce(0) { $0 + ($1 / members) * ($1 / members) }
        return result
    }
}
