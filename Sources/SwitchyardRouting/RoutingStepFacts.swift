/// What one MoE layer's router did in one training step, as the after-step hook
/// (``Router/afterStep(_:)``) receives it.
public struct LayerRoutingFacts: Sendable {
    /// The MoE layer's index among the model's MoE layers (0, 1, …).
    public var layer: Int
    /// Tokens each expert took in the step (after capacity), E values.
    public var tokensPerExpert: [Int]
    /// Tokens no expert took.
    public var droppedTokens: Int
    /// Tokens routed in the step.
    public var tokenCount: Int
    /// (token, expert) assignments of the step (after capacity).
    public var assignmentCount: Int
    /// The layer's plan of the step (read-only; valid only during the call).
    public var plan: RoutingPlan

    /// Facts of one layer; `assignmentCount` defaults to the plan's. Under expert parallelism
    /// the counts are the whole step's, summed over the ranks, and `plan` is this rank's.
    public init(layer: Int, tokensPerExpert: [Int], droppedTokens: Int, tokenCount: Int, assignmentCount: Int? = nil,
                plan: RoutingPlan) {
        self.layer = layer
        self.tokensPerExpert = tokensPerExpert
        self.droppedTokens = droppedTokens
        self.tokenCount = tokenCount
        self.assignmentCount = assignmentCount ?? plan.assignmentCount
        self.plan = plan
    }

    /// The facts of `plan` for MoE layer `layer` (loads and drops from its
    /// ``RoutingPlan/statisticsPlan``: a soft plan's record).
    public init(layer: Int, plan: RoutingPlan) {
        let record = plan.statisticsPlan
        let loads = (0..<record.expertCount).map { record.load(ofExpert: $0) }
        self.init(layer: layer, tokensPerExpert: loads,
                  droppedTokens: record.expertsPerToken().reduce(0) { $0 + ($1 == 0 ? 1 : 0) },
                  tokenCount: plan.tokenCount, plan: plan)
    }
}

/// The facts of one training step for the router of one layer: its own layer's, and every MoE
/// layer's for model-wide controllers (ReMoE adapts one λ from the sparsity of all layers).
public struct RoutingStepFacts: Sendable {
    /// The step just taken (0-based; the optimiser has already updated the weights).
    public var step: Int
    /// This router's layer.
    public var layer: LayerRoutingFacts
    /// Every MoE layer's facts, in layer order (this layer's among them).
    public var allLayers: [LayerRoutingFacts]

    /// Facts of a step.
    public init(step: Int, layer: LayerRoutingFacts, allLayers: [LayerRoutingFacts]) {
        self.step = step
        self.layer = layer
        self.allLayers = allLayers
    }
}
