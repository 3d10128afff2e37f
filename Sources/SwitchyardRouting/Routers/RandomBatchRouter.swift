import SwitchyardTensorCore

/// `random-batch`: the seed project's random routing ("Enhanced MoE with Random Routing based on
/// Transformer"). In training one expert is drawn uniformly per step and every token of the
/// batch, in every layer, uses it (the draw comes from the step's shared draw, so all layers
/// agree; `perLayer: true` draws per layer instead). At evaluation the experts' weights and
/// biases are averaged into one FFN (AdaMix-style weight averaging) that every token uses, so
/// the evaluated model has exactly the dense model's parameter count: the router asks for it
/// with ``evaluationMerge`` (the uniform ``ExpertMerge/average``), and the MoE layer's plan then
/// lists every token under expert 0 with weight 1 (read "the averaged expert"). No router
/// parameters, no auxiliary loss.
public final class RandomBatchRouter: Router {
    /// Random-batch hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// Draw the expert per layer instead of once per step for the whole model.
        public var perLayer = false

        /// One draw per step, shared by all layers (the seed project).
        public init() {}

        /// Help per option.
        public static let optionHelp = ["perLayer": "draw the step's expert separately in every layer"]

        /// Always valid.
        public func validate(expertCount: Int) throws {}
    }

    /// "random-batch".
    public static let name = "random-batch"
    /// One sentence.
    public static let summary = "One random expert per step for all tokens; experts' weights averaged at evaluation (the seed project)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// None.
    public var parameters: [Parameter] { [] }
    /// Evaluation uses the experts' averaged weights.
    public var evaluationMerge: ExpertMerge? { .average }

    /// A random-batch router.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
    }

    /// The step's expert (training; at evaluation the layer merges the experts instead). Called
    /// at evaluation only by code that routes without an MoE layer: then expert 0.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        plan.reset(tokenCount: n, expertCount: expertCount)
        var expert = 0
        if context.training {
            expert = configuration.perLayer ? rng.nextInt(below: expertCount)
                                            : Int(context.sharedDraw % UInt64(expertCount))
        }
        for t in 0..<n { plan.append(expert: expert, token: t, weight: 1) }
        plan.finish()
    }

    /// Nothing: the weights are constants and there are no parameters.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {}
}
