/// Fills a ``RoutingPlan`` from per-token choices and does the grouping by expert itself (a
/// counting sort, stable: each expert's tokens in increasing order), with storage reused across
/// calls. Routers that think per token (top-k, hash, top-p) use it instead of building expert
/// lists.
///
/// ```swift
/// // k choices per token: experts[t·k + j] (−1 = none) with weights[t·k + j]
/// builder.fill(plan, tokenCount: n, k: k, experts: experts, weights: weights)
/// ```
public struct RoutingPlanBuilder: Sendable {
    private var loads: [Int] = []
    private var cursor: [Int] = []
    /// For each choice of the last fill, its position in the plan's ``RoutingPlan/tokens`` and
    /// ``RoutingPlan/weights`` (−1 for a choice of no expert).
    public private(set) var planPositions: [Int] = []

    /// An empty builder.
    public init() {}

    /// Fills `plan` (already ``RoutingPlan/reset(tokenCount:expertCount:)``) with token t's
    /// choices `experts[t·k ..< t·k + k]` (an expert index, or −1 for none) and their combine
    /// weights, then finishes it. An expert chosen twice by one token gets two assignments.
    public mutating func fill(_ plan: RoutingPlan, tokenCount n: Int, k: Int,
                              experts: UnsafePointer<Int32>, weights: UnsafePointer<Float>) {
        fill(plan, tokenCount: n, offsets: { $0 * k }, experts: experts, weights: weights)
    }

    /// Fills `plan` with a variable number of choices per token: token t's are
    /// `experts[offsets[t] ..< offsets[t + 1]]` (−1 entries skipped), `offsets` of n + 1 entries.
    public mutating func fill(_ plan: RoutingPlan, tokenCount n: Int, offsets: UnsafePointer<Int>,
                              experts: UnsafePointer<Int32>, weights: UnsafePointer<Float>) {
        fill(plan, tokenCount: n, offsets: { offsets[$0] }, experts: experts, weights: weights)
    }

    private mutating func fill(_ plan: RoutingPlan, tokenCount n: Int, offsets: (Int) -> Int,
                               experts: UnsafePointer<Int32>, weights: UnsafePointer<Float>) {
        let e = plan.expertCount
        precondition(n == plan.tokenCount, "RoutingPlanBuilder: the plan was reset for \(plan.tokenCount) tokens, not \(n)")
        loads = [Int](repeating: 0, count: e)
        planPositions = [Int](repeating: -1, count: offsets(n))
        for t in 0..<n {
            for i in offsets(t) ..< offsets(t + 1) {
                let x = Int(experts[i])
                precondition(x < e, "RoutingPlanBuilder: token \(t) chose expert \(x) of \(e)")
                if x >= 0 { loads[x] += 1 }
            }
        }
        loads.withUnsafeBufferPointer { loadBuffer in
            plan.setAssignments(loads: loadBuffer) { tokens, planWeights, expertOffsets in
                cursor = Array(UnsafeBufferPointer(start: expertOffsets, count: e))
                for t in 0..<n {
                    for i in offsets(t) ..< offsets(t + 1) where experts[i] >= 0 {
                        let x = Int(experts[i]), slot = cursor[x]
                        tokens[slot] = Int32(t)
                        planWeights[slot] = weights[i]
                        planPositions[i] = slot
                        cursor[x] = slot + 1
                    }
                }
            }
        }
        plan.finish()
    }

    /// dL/d(weight) of each choice of the last fill, from the plan-ordered `dWeights` the MoE
    /// layer hands to a router's backward (0 for a choice of no expert): the per-token view a
    /// router's backward usually wants.
    public func choiceGradients(_ dWeights: UnsafePointer<Float>) -> [Float] {
        planPositions.map { $0 >= 0 ? dWeights[$0] : 0 }
    }
}
