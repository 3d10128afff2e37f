import SwitchyardTensorCore

/// `dense`: the ordinary transformer feed-forward network: one expert that takes every
/// token with weight 1. No parameters, no auxiliary loss. The baseline every comparison
/// of routers needs (Vaswani et al. 2017).
public final class DenseRouter: Router {
    /// The dense router has no hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// No options.
        public init() {}
        /// No options.
        public static let optionHelp: [String: String] = [:]
        /// Always valid.
        public func validate(expertCount: Int) throws {}
    }

    /// "dense".
    public static let name = "dense"
    /// One sentence for `switchyard routers`.
    public static let summary = "One feed-forward network for every token (no routing): the dense baseline."

    /// The (empty) configuration.
    public let configuration: Configuration
    /// Always 1: the dense model has one FFN whatever expert count was asked for.
    public let expertCount = 1
    /// No parameters.
    public var parameters: [Parameter] { [] }

    /// A dense router; `expertCount` is ignored.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
    }

    /// Every token to expert 0 with weight 1.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        plan.reset(tokenCount: n, expertCount: 1)
        for t in 0..<n { plan.append(expert: 0, token: t, weight: 1) }
        plan.finish()
    }

    /// Nothing to do: the weights are constants.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {}
}
