import SwitchyardTraces

/// One layer's expert loads and co-activation counts over a whole trace: what the placement
/// optimiser reads.
public struct ExpertCoActivation: Equatable, Sendable {
    /// Experts in the layer.
    public var expertCount: Int
    /// Assignments per expert; with a capacity factor, the assignments kept (each group's
    /// first ⌈cf · A_g / E⌉ per expert, as the simulation keeps them).
    public var loads: [Int]
    /// `pairs[a·E + b]`: tokens that chose both a and b (symmetric, zero diagonal); nil when
    /// E is above ``matrixLimit``, where the E × E matrix would not pay for itself.
    public var pairs: [Int32]?

    /// The largest E for which co-activation is counted.
    public static let matrixLimit = 2048

    /// Counts `layer`'s loads (kept at `capacityFactor` per group of `groups` when given) and
    /// co-activated pairs (of all assignments).
    public init(_ layer: LayerRouting, expertCount: Int, groups: DispatchGroups? = nil, capacityFactor: Double? = nil) {
        self.expertCount = expertCount
        var loads = [Int](repeating: 0, count: expertCount)
        if let groups, let capacityFactor {
            var count = [Int](repeating: 0, count: expertCount)
            for g in 0..<groups.count {
                let range = groups.tokens(g)
                let first = Int(layer.offsets[range.lowerBound]), end = Int(layer.offsets[range.upperBound])
                let capacity = SimulationOptions.capacity(assignments: end - first, experts: expertCount, factor: capacityFactor)
                for a in first..<end { count[Int(layer.experts[a])] += 1 }
                for a in first..<end {
                    let e = Int(layer.experts[a])
                    guard count[e] > 0 else { continue }
                    loads[e] += min(count[e], capacity)
                    count[e] = 0
                }
            }
        } else {
            for e in layer.experts { loads[Int(e)] += 1 }
        }
        self.loads = loads
        guard expertCount <= Self.matrixLimit else { pairs = nil; return }
        var pairs = [Int32](repeating: 0, count: expertCount * expertCount)
        layer.offsets.withUnsafeBufferPointer { offsets in
            layer.experts.withUnsafeBufferPointer { experts in
                for t in 0..<(offsets.count - 1) {
                    let s = Int(offsets[t]), end = Int(offsets[t + 1])
                    guard end - s > 1 else { continue }
                    for i in s..<end {
                        let a = Int(experts[i])
                        for j in (i + 1)..<end {
                            let b = Int(experts[j])
                            pairs[a * expertCount + b] += 1
                            pairs[b * expertCount + a] += 1
                        }
                    }
                }
            }
        }
        self.pairs = pairs
    }

    /// Co-activated (token, expert pair) counts whose two experts sit on different devices
    /// under `devices` (expert → device), or nil without the matrix.
    public func splitPairs(_ devices: [Int]) -> Int? {
        guard let pairs else { return nil }
        var split = 0
        let n = expertCount
        for a in 0..<n {
            for b in (a + 1)..<n where devices[a] != devices[b] { split += Int(pairs[a * n + b]) }
        }
        return split
    }
}
