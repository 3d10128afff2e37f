/// The counts behind ``NeighbourAgreement``'s agreement and chance: neighbour pairs with both
/// first experts, those that agree, and the first experts of the tokens in a pair, added a range
/// of units at a time (the one-pass analysis adds chunks, whose routing groups may go on in the next).
struct NeighbourTally {
    var same = 0
    var pairs = 0
    /// First experts of the paired tokens, and how many paired tokens have one.
    var counts: [Double]
    var members = 0.0
    /// Units with at least one pair.
    var units = 0
    /// The last token of a unit that goes on in the next chunk: its first expert, whether it is
    /// in a pair already, and whether its unit has a pair.
    private var carry: (top1: Int32, member: Bool, unitHasPair: Bool)?

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

    /// Adds every unit of `p`, whose tokens' first experts are `top1`. In the one pass a routing
    /// group (or the one sequence of a trace without units) can span chunks: `continuesPrevious`
    /// says that the chunk starts inside the previous chunk's last unit (its first token pairs with
    /// that unit's last), `continuesNext` that its last unit goes on in the next chunk (counted once
    /// it ends).
    mutating func add(_ p: NeighbourPairs, top1: [Int32], continuesPrevious: Bool = false, continuesNext: Bool = false) {
        let carried = continuesPrevious ? carry : nil
        carry = nil
        for u in p.members.indices {
            var hasPair = !p.members[u].isEmpty
            var firstIsMember = p.members[u].first == 0
            if u == 0, let c = carried {
                let a = c.top1, b = top1[0]
                if a >= 0 && b >= 0 {
                    pairs += 1
                    if a == b { same += 1 }
                }
                if !c.member { addMember(a) }
                if !firstIsMember { addMember(b); firstIsMember = true }
                hasPair = true
            }
            addPairs(p, unit: u, top1)
            hasPair = hasPair || (u == 0 && carried?.unitHasPair == true)
            if u == p.members.count - 1 && continuesNext {
                let t = top1.count - 1
                carry = (top1[t], p.members[u].last == Int32(t) || (t == 0 && firstIsMember), hasPair)
            } else if hasPair {
                units += 1
            }
        }
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
