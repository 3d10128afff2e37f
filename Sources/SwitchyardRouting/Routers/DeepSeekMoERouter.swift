import SwitchyardTensorCore

/// `deepseek-moe`: the routed part of DeepSeekMoE (Dai et al. 2024, arXiv 2401.06066, eq. 9–14):
/// s = softmax over the routed experts; each token takes its top K′ = mK − K_s routed experts with
/// weights s (not renormalised, as the Hugging Face port); expert-level balance loss
/// α₁·Σ_i f_i·P_i with f_i = N′/(K′·T)·count_i and P_i = mean_t s_ti, which is Megatron's
/// α₁·N′·Σ (count_i/(T·K′))·P_i — α₁ at uniform routing; and the device-level loss
/// α₂·Σ_d f′_d·P′_d over `deviceGroups` contiguous groups of experts (f′ the groups' mean f, P′ their
/// summed P), ready for expert parallelism.
///
/// The shared experts (always on) and the fine-grained split are the model's, not the router's:
/// `model.sharedExperts`, `model.sharedExpertHidden` and `model.expertHidden` (the preset
/// `fmnist-small-dsmoe` is FLOP-matched to `fmnist-small`). The router is the `top-k` router with
/// DeepSeekMoE's settings.
public final class DeepSeekMoERouter: Router {
    /// DeepSeekMoE hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// K′, routed experts per token (mK − K_s).
        public var k = 3
        /// α₁ of the expert-level balance loss.
        public var balanceLossWeight: Float = 1e-2
        /// D device groups of the device-level loss (0 = off).
        public var deviceGroups = 0
        /// α₂ of the device-level loss.
        public var deviceLossWeight: Float = 0.05

        /// Switchyard's defaults for fmnist-small-dsmoe (see docs/routers.md).
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "k": "K′ = mK − K_s routed experts per token",
            "balanceLossWeight": "α₁ of the expert-level balance loss",
            "deviceGroups": "D device groups of experts for the device-level loss (0 = off); must divide E",
            "deviceLossWeight": "α₂ of the device-level loss",
        ]

        /// As the `top-k` router checks them.
        public func validate(expertCount: Int) throws { _ = try topK(expertCount: expertCount) }

        func topK(expertCount: Int) throws -> TopKRouter.Configuration {
            var c = TopKRouter.Configuration()
            c.k = k
            c.score = .softmax
            c.renormalize = false
            c.balanceLossWeight = balanceLossWeight
            c.deviceGroups = deviceGroups
            c.deviceLossWeight = deviceLossWeight
            do {
                try c.validate(expertCount: expertCount)
            } catch var error as RouterConfigurationError {
                error.router = "deepseek-moe"
                throw error
            }
            return c
        }
    }

    /// "deepseek-moe".
    public static let name = "deepseek-moe"
    /// One sentence.
    public static let summary = "DeepSeekMoE's routed experts: softmax top-K′, raw weights, expert- and device-level balance losses (Dai et al. 2024)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E (routed experts).
    public let expertCount: Int
    /// The top-k router with DeepSeekMoE's settings.
    public let inner: TopKRouter
    /// W.
    public var parameters: [Parameter] { inner.parameters }
    /// K′ experts per token.
    public var traits: RouterTraits { inner.traits }

    /// A DeepSeekMoE router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        // Validated by the registry before construction.
        let topK = (try? configuration.topK(expertCount: expertCount)) ?? TopKRouter.Configuration()
        inner = TopKRouter(configuration: topK, modelWidth: modelWidth, expertCount: expertCount, rng: &rng)
    }

    /// The top-k router's decision.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        try inner.route(x, tokenCount: n, context: context, rng: &rng, plan: plan)
    }

    /// The top-k router's backward.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        inner.backward(plan: plan, dWeights: dWeights, auxiliaryLossScale: auxiliaryLossScale, input: x, dInput: dInput)
    }
}
