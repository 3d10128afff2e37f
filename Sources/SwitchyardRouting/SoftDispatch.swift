import SwitchyardTensorCore

/// The soft part of a ``RoutingPlan`` (Soft MoE, Puigcerver et al. 2023): within each routing
/// group of m tokens, S = E·p slots (p per expert, expert-major: slot s belongs to expert
/// s / p), a dispatch matrix D (m × S) and a combine matrix C (m × S).
///
/// The MoE layer computes the slot inputs X̃ = Dᵀ·X (S × d) per group, runs expert e on its p
/// slots, and combines Y = C·Ỹ; in backward it writes dL/dD and dL/dC into ``dDispatch`` and
/// ``dCombine`` before it calls the router's backward. All four matrices are n × S with the rows
/// of all groups stacked in token order (group g's block is its rows).
public final class SoftDispatch: @unchecked Sendable {
    /// Tokens of the whole call.
    public private(set) var tokenCount = 0
    /// Experts E.
    public private(set) var expertCount = 0
    /// Slots per expert p.
    public private(set) var slotsPerExpert = 0
    /// The routing groups' token ranges.
    public private(set) var groups: [Range<Int>] = []
    /// D, n × S.
    public private(set) var dispatch = Tensor(shape: [0])
    /// C, n × S.
    public private(set) var combine = Tensor(shape: [0])
    /// dL/dD, n × S (written by the MoE layer's backward).
    public private(set) var dDispatch = Tensor(shape: [0])
    /// dL/dC, n × S (written by the MoE layer's backward).
    public private(set) var dCombine = Tensor(shape: [0])

    /// Slots per group S = E·p.
    public var slotCount: Int { expertCount * slotsPerExpert }

    init() {}

    func reset(tokenCount n: Int, expertCount e: Int, slotsPerExpert p: Int, groups: [Range<Int>]) {
        precondition(p >= 1, "a soft plan needs at least one slot per expert")
        precondition(groups.first?.lowerBound ?? 0 == 0 && groups.last?.upperBound ?? 0 == n
                     && zip(groups, groups.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound },
                     "soft plan groups must cover 0..<\(n) in order")
        tokenCount = n
        expertCount = e
        slotsPerExpert = p
        self.groups = groups
        if dispatch.shape != [n, e * p] {
            dispatch = Tensor(shape: [n, e * p])
            combine = Tensor(shape: [n, e * p])
            dDispatch = Tensor(shape: [n, e * p])
            dCombine = Tensor(shape: [n, e * p])
        }
    }
}
