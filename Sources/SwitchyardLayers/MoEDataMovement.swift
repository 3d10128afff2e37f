import SwitchyardRouting
import SwitchyardTensorCore

/// The data movement of an ``MoELayer`` — dispatch (gather) and combine (weighted
/// scatter-add), forward and backward — as the layer runs it, apart from the experts.
///
/// ``MoELayer`` calls exactly these four steps, and `switchyard bench route` times them with
/// an identity expert in between, so that the routing microbenchmark measures the layer's own
/// dispatch and combine code (and follows it when that code changes):
///
/// ```swift
/// MoEDataMovement.dispatch(x, width: d, plan: plan, into: gathered)            // gathered_i = x_{t_i}
/// // … experts: expertOutput = FFN_e(gathered) slice by slice …
/// MoEDataMovement.combine(expertOutput, width: d, plan: plan, into: y)          // y_t = Σ w_i·out_i
/// MoEDataMovement.combineBackward(dOutput: dy, expertOutput: expertOutput, width: d, plan: plan,
///                                 dExpertOutput: dOut, dWeights: dW)            // dOut_i = w_i·dy_{t_i}
/// // … experts' backward: dGathered from dOut …
/// MoEDataMovement.dispatchBackward(dGathered, width: d, plan: plan, into: dx)   // dx_t = Σ dGathered_i
/// ```
///
/// Rows are indexed by assignment i (expert-major, the order of ``RoutingPlan/tokens``);
/// t_i is the token and w_i the combine weight of assignment i.
public enum MoEDataMovement {
    /// Dispatch: `gathered[i, :] = x[t_i, :]` for every assignment i of `plan`
    /// (`gathered` holds `plan.assignmentCount` rows of `width`).
    public static func dispatch(_ x: UnsafePointer<Float>, width: Int, plan: RoutingPlan,
                                into gathered: UnsafeMutablePointer<Float>) {
        let a = plan.assignmentCount
        plan.tokens.withUnsafeBufferPointer { tokens in
            guard let base = tokens.baseAddress else { return }
            gatherRows(x, width: width, rows: base, count: a, into: gathered)
        }
    }

    /// Combine: `y = 0`, then `y[t_i, :] += w_i · expertOutput[i, :]` for every assignment i
    /// (`y` holds `plan.tokenCount` rows). A token no expert took gets 0. Computed token by
    /// token from the plan's token index (``RoutingPlan/withTokenIndex(_:)``), adding each
    /// token's assignments in increasing i: every row of `y` is written once (no zeroing pass),
    /// the result does not depend on the thread count, and it equals the scatter-add's.
    public static func combine(_ expertOutput: UnsafePointer<Float>, width: Int, plan: RoutingPlan,
                               into y: UnsafeMutablePointer<Float>) {
        plan.withTokenIndex { offsets, entries in
            plan.weights.withUnsafeBufferPointer { weights in
                gatherAddRows(expertOutput, width: width, offsets: offsets, entries: entries,
                              weights: weights.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                              rows: plan.tokenCount, into: y)
            }
        }
    }

    /// Combine backward: `dWeights[i] = dy[t_i, :] · expertOutput[i, :]` (dL/dw_i) and
    /// `dExpertOutput[i, :] = w_i · dy[t_i, :]` (what each expert's backward starts from), in
    /// one pass over the assignments.
    public static func combineBackward(dOutput dy: UnsafePointer<Float>, expertOutput: UnsafePointer<Float>,
                                       width: Int, plan: RoutingPlan,
                                       dExpertOutput: UnsafeMutablePointer<Float>,
                                       dWeights: UnsafeMutablePointer<Float>) {
        let a = plan.assignmentCount
        guard a > 0 else { return }
        plan.tokens.withUnsafeBufferPointer { tokens in
            plan.weights.withUnsafeBufferPointer { weights in
                gatherScaledRowsAndDots(dy, expertOutput, width: width, rows: tokens.baseAddress!,
                                        weights: weights.baseAddress!, count: a,
                                        scaled: dExpertOutput, dots: dWeights)
            }
        }
    }

    /// Dispatch backward: `dx = 0`, then `dx[t_i, :] += dGathered[i, :]` for every assignment
    /// (the adjoint of ``dispatch(_:width:plan:into:)``; `dx` holds `plan.tokenCount` rows),
    /// token by token like ``combine(_:width:plan:into:)``.
    public static func dispatchBackward(_ dGathered: UnsafePointer<Float>, width: Int, plan: RoutingPlan,
                                        into dx: UnsafeMutablePointer<Float>) {
        plan.withTokenIndex { offsets, entries in
            gatherAddRows(dGathered, width: width, offsets: offsets, entries: entries, weights: nil,
                          rows: plan.tokenCount, into: dx)
        }
    }
}
