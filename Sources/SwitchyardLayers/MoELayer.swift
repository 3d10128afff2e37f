import SwitchyardRouting
import SwitchyardTensorCore

/// A Mixture-of-Experts feed-forward layer: E expert FFNs and one router.
///
/// Forward for n tokens x (n × d):
/// 1. the router decides (a ``RoutingPlan``: for each expert its tokens and combine weights);
/// 2. every expert's tokens are gathered into one contiguous buffer (the plan is grouped by
///    expert, so expert e's rows are one slice of it) — no n × E × capacity one-hot tensors;
/// 3. each expert runs one GEMM pair on its slice;
/// 4. the outputs are scatter-added: `y_t = Σ_{e took t} w_te · FFN_e(x_t)`. A token that no
///    expert took gets y_t = 0 (the residual connection carries it).
///
/// A plan that sends every token, in order, to a single expert with weight 1 (the dense router)
/// skips the gather and scatter: the expert reads x directly.
///
/// When the router asks for an ``ExpertMerge`` at evaluation (random-batch routing averages its
/// experts), the router is not called: every token goes through one FFN whose weights and biases
/// are Σ_e c_e·θ_e, and the plan lists every token under expert 0 with weight 1.
///
/// Backward: dL/dw_a = dy_t · FFN_e(x_t) for each assignment a = (t, e); each expert's
/// backward runs on w_a · dy_t; the experts' input gradients are scatter-added into dx and the
/// router adds its own contribution (through the combine weights and its auxiliary loss).
///
/// The gather and scatter-add steps are ``MoEDataMovement``'s, which `switchyard bench route`
/// also times on their own.
///
/// A **soft plan** (``RoutingPlan/soft``, Soft MoE) replaces steps 2–4: per routing group g the
/// slot inputs X̃_g = D_gᵀ·X_g, expert e on its p slots of every group (one GEMM pair per expert
/// over all groups), and Y_g = C_g·Ỹ_g, all dense GEMMs (``MoESoftDataMovement``). Its backward
/// writes dL/dD and dL/dC into the plan's ``SoftDispatch`` before it calls the router's.
///
/// **Shared experts** (``SharedExperts``) run on every token after the routed part and add
/// their (optionally gated) outputs to y; they are not in the plan.
public final class MoELayer: Layer {
    /// The router that decides which expert takes which token.
    public let router: any Router
    /// The expert FFNs (one for the dense router).
    public let experts: [FeedForward]
    /// Model width d.
    public let width: Int
    /// Expert hidden width h.
    public let hidden: Int
    /// The plan of the last forward (read it for traces and statistics).
    public let plan = RoutingPlan()
    /// The always-on shared experts, or nil for none.
    public let shared: SharedExperts?
    /// Under expert parallelism, the dispatcher that runs the experts on their owning ranks
    /// (this rank computes only its own experts); nil runs every expert here.
    public var dispatcher: ExpertParallelDispatcher?

    /// The output of the last forward, n × d.
    public private(set) var output: Tensor
    private var gathered: Tensor        // assignments × d, expert-major
    private var expertOutput: Tensor    // assignments × d
    private var dExpertOutput: Tensor   // assignments × d
    private var dGathered: Tensor       // assignments × d
    private var dWeights: Tensor        // assignments
    private var merged: FeedForward?    // evaluation with an ExpertMerge
    private var ranMerged = false       // the last forward used the merged expert
    private var slotScratch: Tensor     // soft plans of several groups: slots × d, group-major
    private var lastTokenCount = 0
    private var passesThrough = false   // the last plan was the identity (dense)

    /// An MoE layer whose router is built from the registry-made `router`; it asks the router
    /// how many experts to build. `shared` shared experts of hidden width `sharedHidden` with
    /// `sharedGate` are initialised from `rng` after the routed experts (none draw nothing).
    public init(name: String, width: Int, hidden: Int, router: any Router, shared: Int = 0, sharedHidden: Int? = nil,
                sharedGate: SharedExpertGate = .none, rng: inout SeededRNG) {
        self.router = router
        self.width = width
        self.hidden = hidden
        var experts: [FeedForward] = []
        for e in 0..<router.expertCount {
            experts.append(FeedForward(name: "\(name).experts.\(e)", width: width, hidden: hidden, rng: &rng))
        }
        self.experts = experts
        self.shared = shared > 0
            ? SharedExperts(name: name, count: shared, width: width, hidden: sharedHidden ?? hidden, gate: sharedGate, rng: &rng)
            : nil
        for (i, p) in router.parameters.enumerated() where !p.name.hasPrefix(name) {
            p.name = "\(name).router.\(p.name.isEmpty ? String(i) : p.name)"
        }
        output = Tensor(shape: [0, width])
        gathered = Tensor(shape: [0, width])
        expertOutput = Tensor(shape: [0, width])
        dExpertOutput = Tensor(shape: [0, width])
        dGathered = Tensor(shape: [0, width])
        dWeights = Tensor(shape: [0])
        slotScratch = Tensor(shape: [0, width])
    }

    /// The experts' parameters, the router's, then the shared experts'.
    public var parameters: [Parameter] {
        experts.flatMap(\.parameters) + router.parameters + (shared?.parameters ?? [])
    }

    /// The rows the experts ran in the last forward: the plan's assignments, or for a soft plan
    /// its slots over all groups (what the experts' FLOPs scale with).
    public var expertRowCount: Int {
        if let soft = plan.soft { return MoESoftDataMovement.slotRows(soft) }
        return plan.assignmentCount
    }

    /// The parameters used at evaluation: with an ``ExpertMerge`` (random-batch routing), one
    /// merged FFN's worth (what the evaluated model really has), otherwise all of them.
    public var evaluationParameterCount: Int {
        let routerCount = router.parameters.reduce(0) { $0 + $1.count }, sharedCount = shared?.parameterCount ?? 0
        guard let first = experts.first else { return routerCount + sharedCount }
        return router.evaluationMerge != nil ? first.parameterCount + routerCount + sharedCount : parameterCount
    }

    private func ensureCapacity(tokens n: Int, assignments a: Int) {
        if output.shape[0] < n { output = Tensor(shape: [n, width]) }
        if gathered.shape[0] < a {
            let rows = max(a, gathered.shape[0] * 5 / 4)
            gathered = Tensor(shape: [rows, width])
            expertOutput = Tensor(shape: [rows, width])
            dExpertOutput = Tensor(shape: [rows, width])
            dGathered = Tensor(shape: [rows, width])
            dWeights = Tensor(shape: [rows])
        }
    }

    /// Routes and runs the experts on `n` tokens `x` (n × d); the result is in ``output``.
    /// Throws the router's ``RoutingError`` when it cannot route the call.
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                        rng: inout SeededRNG) throws -> UnsafeMutablePointer<Float> {
        lastTokenCount = n
        ranMerged = !context.training && router.evaluationMerge != nil
        if ranMerged, let merge = router.evaluationMerge {
            plan.reset(tokenCount: n, expertCount: experts.count)
            for t in 0..<n { plan.append(expert: 0, token: t, weight: 1) }
            plan.finish()
            ensureCapacity(tokens: n, assignments: n)
            var unused = SeededRNG(seed: 0)
            let ffn = merged ?? FeedForward(name: "merged", width: width, hidden: hidden, rng: &unused)
            merged = ffn
            ffn.assignMerge(of: experts, coefficients: merge.coefficients)
            ffn.forward(x, rows: n, into: output.pointer)
            shared?.forward(x, rows: n, addingTo: output.pointer)
            return output.pointer
        }
        try router.route(x, tokenCount: n, context: context, rng: &rng, plan: plan)
        if let soft = plan.soft {
            passesThrough = false
            forwardSoft(x, tokenCount: n, soft: soft)
            shared?.forward(x, rows: n, addingTo: output.pointer)
            return output.pointer
        }
        let a = plan.assignmentCount
        ensureCapacity(tokens: n, assignments: a)
        let y = output.pointer
        passesThrough = experts.count == 1 && plan.isIdentity
        if passesThrough {
            // The dense router's plan: every token to the one expert with weight 1, in order. The
            // expert reads x and its output is y's, without the gather and scatter copies.
            experts[0].forward(x, rows: n, into: expertOutput.pointer)
            y.update(from: expertOutput.pointer, count: n * width)
            shared?.forward(x, rows: n, addingTo: y)
            return y
        }
        MoEDataMovement.dispatch(x, width: width, plan: plan, into: gathered.pointer)
        if let dispatcher {
            dispatcher.forward(gathered: gathered.pointer, plan: plan, experts: experts, width: width,
                               into: expertOutput.pointer)
        } else {
            for e in 0..<experts.count {
                let range = plan.range(ofExpert: e)
                if range.isEmpty { continue }
                experts[e].forward(gathered.pointer + range.lowerBound * width, rows: range.count,
                                   into: expertOutput.pointer + range.lowerBound * width)
            }
        }
        MoEDataMovement.combine(expertOutput.pointer, width: width, plan: plan, into: y)
        shared?.forward(x, rows: n, addingTo: y)
        return y
    }

    /// The routed part of a soft plan: X̃ = Dᵀ·X per group, expert e on its G·p slot rows, Y = C·Ỹ.
    private func forwardSoft(_ x: UnsafePointer<Float>, tokenCount n: Int, soft: SoftDispatch) {
        precondition(soft.tokenCount == n && soft.expertCount == experts.count,
                     "soft plan for \(soft.tokenCount) tokens and \(soft.expertCount) experts in a layer of \(n) and \(experts.count)")
        precondition(plan.assignmentCount == 0, "a soft plan's sparse part must be empty (\(plan.assignmentCount) assignments)")
        let rows = MoESoftDataMovement.slotRows(soft), perExpert = rows / experts.count
        ensureCapacity(tokens: n, assignments: rows)
        let scratch = softScratch(soft)
        MoESoftDataMovement.dispatch(x, width: width, soft: soft, scratch: scratch, into: gathered.pointer)
        for e in 0..<experts.count {
            let offset = e * perExpert * width
            experts[e].forward(gathered.pointer + offset, rows: perExpert, into: expertOutput.pointer + offset)
        }
        MoESoftDataMovement.combine(expertOutput.pointer, width: width, soft: soft, scratch: scratch, into: output.pointer)
    }

    /// The group-major slot buffer of a soft plan of several groups (grown, never per step), or nil.
    private func softScratch(_ soft: SoftDispatch) -> UnsafeMutablePointer<Float>? {
        guard MoESoftDataMovement.needsScratch(soft) else { return nil }
        let rows = MoESoftDataMovement.slotRows(soft)
        if slotScratch.shape[0] < rows { slotScratch = Tensor(shape: [max(rows, slotScratch.shape[0] * 5 / 4), width]) }
        return slotScratch.pointer
    }

    /// Backward through the last training forward. `dOutput` is dL/dy (n × d), `x` the same
    /// input; writes dL/dx into `dInput` (overwritten) and accumulates expert and router
    /// parameter gradients. `auxiliaryLossScale` is dL/d(auxiliary loss), 1 in training.
    public func backward(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                         dInput: UnsafeMutablePointer<Float>, auxiliaryLossScale: Float = 1) {
        precondition(!ranMerged, "MoELayer.backward after an evaluation forward")
        precondition(plan.tokenCount == lastTokenCount, "MoELayer.backward: the plan is not the last forward's")
        // The shared experts add their part once the routed part has written dInput.
        defer { shared?.backward(dOutput: dOutput, input: x, rows: plan.tokenCount, addingTo: dInput) }
        if let soft = plan.soft {
            backwardSoft(dOutput: dOutput, input: x, dInput: dInput, soft: soft)
            router.backward(plan: plan, dWeights: dWeights.pointer, auxiliaryLossScale: auxiliaryLossScale,
                            input: x, dInput: dInput)
            return
        }
        // dL/dw_a = dy_t · FFN_e(x_t); dL/dFFN_e(x_t) = w_a · dy_t.
        if passesThrough {
            let n = plan.tokenCount
            rowDots(dOutput, expertOutput.pointer, rows: n, width: width, into: dWeights.pointer)
            experts[0].backward(dOutput: dOutput, input: x, rows: n, dInput: dInput)
            router.backward(plan: plan, dWeights: dWeights.pointer, auxiliaryLossScale: auxiliaryLossScale,
                            input: x, dInput: dInput)
            return
        }
        MoEDataMovement.combineBackward(dOutput: dOutput, expertOutput: expertOutput.pointer, width: width, plan: plan,
                                        dExpertOutput: dExpertOutput.pointer, dWeights: dWeights.pointer)
        if let dispatcher {
            dispatcher.backward(dOutput: dExpertOutput.pointer, experts: experts, into: dGathered.pointer)
        } else {
            for e in 0..<experts.count {
                let range = plan.range(ofExpert: e)
                if range.isEmpty { continue }
                let offset = range.lowerBound * width
                experts[e].backward(dOutput: dExpertOutput.pointer + offset, input: gathered.pointer + offset,
                                    rows: range.count, dInput: dGathered.pointer + offset)
            }
        }
        MoEDataMovement.dispatchBackward(dGathered.pointer, width: width, plan: plan, into: dInput)
        // Under expert parallelism each rank's auxiliary loss covers its own tokens, and the
        // objective is their mean over the ranks holding tokens (the replicated gradients are summed).
        let ranks = Float(dispatcher?.auxiliaryLossRanks ?? 1)
        router.backward(plan: plan, dWeights: dWeights.pointer, auxiliaryLossScale: auxiliaryLossScale / ranks,
                        input: x, dInput: dInput)
    }

    /// The soft part's backward: dC and dỸ = Cᵀ·dY, the experts' backward on their slot rows,
    /// then dD and dX = D·dX̃ (overwriting `dInput`); dD and dC land in the plan's ``SoftDispatch``.
    private func backwardSoft(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                              dInput: UnsafeMutablePointer<Float>, soft: SoftDispatch) {
        let rows = MoESoftDataMovement.slotRows(soft), perExpert = rows / experts.count
        let scratch = softScratch(soft)
        MoESoftDataMovement.combineBackward(dOutput: dOutput, slotOutput: expertOutput.pointer, width: width, soft: soft,
                                            scratch: scratch, dSlotOutput: dExpertOutput.pointer)
        for e in 0..<experts.count {
            let offset = e * perExpert * width
            experts[e].backward(dOutput: dExpertOutput.pointer + offset, input: gathered.pointer + offset,
                                rows: perExpert, dInput: dGathered.pointer + offset)
        }
        MoESoftDataMovement.dispatchBackward(dGathered.pointer, input: x, width: width, soft: soft, scratch: scratch,
                                             into: dInput)
    }
}
