import Routing
import TensorCore

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
    /// (`y` holds `plan.tokenCount` rows). A token no expert took gets 0.
    public static func combine(_ expertOutput: UnsafePointer<Float>, width: Int, plan: RoutingPlan,
                               into y: UnsafeMutablePointer<Float>) {
        let a = plan.assignmentCount
        y.update(repeating: 0, count: plan.tokenCount * width)
        plan.tokens.withUnsafeBufferPointer { tokens in
            plan.weights.withUnsafeBufferPointer { weights in
                guard let t = tokens.baseAddress, let w = weights.baseAddress else { return }
                scatterAddRows(expertOutput, width: width, rows: t, weights: w, count: a, into: y)
            }
        }
    }

    /// Combine backward: `dWeights[i] = dy[t_i, :] · expertOutput[i, :]` (dL/dw_i) and
    /// `dExpertOutput[i, :] = w_i · dy[t_i, :]` (what each expert's backward starts from).
    public static func combineBackward(dOutput dy: UnsafePointer<Float>, expertOutput: UnsafePointer<Float>,
                                       width: Int, plan: RoutingPlan,
                                       dExpertOutput: UnsafeMutablePointer<Float>,
                                       dWeights: UnsafeMutablePointer<Float>) {
        let a = plan.assignmentCount
        plan.tokens.withUnsafeBufferPointer { tokens in
            guard let t = tokens.baseAddress else { return }
            gatherRows(dy, width: width, rows: t, count: a, into: dExpertOutput)
        }
        rowDots(dExpertOutput, expertOutput, rows: a, width: width, into: dWeights)
        plan.weights.withUnsafeBufferPointer { weights in
            guard let w = weights.baseAddress else { return }
            scaleRows(dExpertOutput, by: w, rows: a, width: width)
        }
    }

    /// Dispatch backward: `dx = 0`, then `dx[t_i, :] += dGathered[i, :]` for every assignment
    /// (the adjoint of ``dispatch(_:width:plan:into:)``; `dx` holds `plan.tokenCount` rows).
    public static func dispatchBackward(_ dGathered: UnsafePointer<Float>, width: Int, plan: RoutingPlan,
                                        into dx: UnsafeMutablePointer<Float>) {
        let a = plan.assignmentCount
        dx.update(repeating: 0, count: plan.tokenCount * width)
        plan.tokens.withUnsafeBufferPointer { tokens in
            guard let t = tokens.baseAddress else { return }
            scatterAddRows(dGathered, width: width, rows: t, weights: nil, count: a, into: dx)
        }
    }
}
