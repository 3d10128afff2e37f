import SwitchyardTensorCore

extension RoutingPlan {
    /// The rule of ``statisticsPlan`` for soft plans in words, as run summaries state it.
    public static let softRecordRule = "soft plan: each token is recorded once per layer, at its expert of largest combine "
        + "mass (the sum of its combine weights over that expert's slots), weighted by that mass; every expert "
        + "computes p slots per image"

    /// The plan that step records, router facts, traces and statistics read: the plan itself when
    /// it is sparse; for a soft plan, a sparse record with exactly one assignment per token — the
    /// expert of largest combine mass m_te = Σ_{slots s of e} C[t, s] (first on ties), weighted by
    /// that mass — with the masses (n × E, each row sums to 1) as ``probabilities``, the argmax
    /// as ``preferredExpert`` and no capacity. The experts compute on E·p slots per routing group
    /// whatever the record says (docs/routers.md, soft-moe). Built on first use after the router
    /// fills the plan, then kept until the next reset.
    public var statisticsPlan: RoutingPlan {
        guard let soft else { return self }
        if softRecordIsCurrent, let record = softRecord { return record }
        let record = softRecord ?? RoutingPlan()
        softRecord = record
        let n = tokenCount, e = expertCount, p = soft.slotsPerExpert, s = soft.slotCount
        let masses = record.probabilities?.shape == [n, e] ? record.probabilities! : Tensor(shape: [n, e])
        let m = masses.pointer, c = soft.combine.pointer
        var best = [Int32](repeating: 0, count: n)
        var loads = [Int](repeating: 0, count: e)
        for t in 0..<n {
            for j in 0..<e {
                var total: Float = 0
                for q in 0..<p { total += c[t * s + j * p + q] }
                m[t * e + j] = total
                if total > m[t * e + Int(best[t])] { best[t] = Int32(j) }
            }
            loads[Int(best[t])] += 1
        }
        record.reset(tokenCount: n, expertCount: e)
        loads.withUnsafeBufferPointer { l in
            record.setAssignments(loads: l) { tokens, weights, offsets in
                var cursor = Array(UnsafeBufferPointer(start: offsets, count: e))
                for t in 0..<n {
                    let j = Int(best[t])
                    tokens[cursor[j]] = Int32(t)
                    weights[cursor[j]] = m[t * e + j]
                    cursor[j] += 1
                }
            }
        }
        record.probabilities = masses
        record.preferredExpert = best
        record.auxiliaryLoss = auxiliaryLoss
        softRecordIsCurrent = true
        return record
    }
}
