import SwitchyardTensorCore

/// The hyperparameters of a router: `Codable` so that they are saved in run
/// configurations and can be set from the command line (`--router-option key=value`),
/// with defaults from `init()`.
public protocol RouterConfiguration: Codable, Equatable, Sendable {
    /// The defaults of the router's paper (or of the `fmnist-small` preset).
    init()
    /// One line per hyperparameter for `switchyard routers` and docs.
    static var optionHelp: [String: String] { get }
    /// Throws an ``RouterConfigurationError`` naming the field, its value and the
    /// allowed range when a value is unusable for `expertCount` experts.
    func validate(expertCount: Int) throws
}

/// A router: it sees the representations of the tokens of one call (n tokens × d, all tokens
/// of a batch in one layer, split into routing groups by the context), decides which experts
/// take which tokens with what combine weights, and backpropagates through that decision.
///
/// A router *decides*; the MoE layer gathers, runs the experts and combines. Randomness
/// comes only from the generator passed to ``route(_:tokenCount:context:rng:plan:)``.
///
/// When each call happens (docs/custom-router.md has the full lifecycle):
/// - ``route(_:tokenCount:context:rng:plan:)``: every forward pass, in training
///   (`context.training`) and at evaluation (between epochs, `switchyard eval`, traces);
/// - ``backward(plan:dWeights:auxiliaryLossScale:input:dInput:)``: after a training forward,
///   once, unless the step's loss was not finite;
/// - ``afterStep(_:)``: once per training step after the optimiser's update, never at
///   evaluation and never for a step skipped because of a non-finite loss or gradient.
///
/// Writing one with the router toolkit (``SoftmaxGate``, ``TopKSelection``, ``ExpertCapacity``,
/// ``BalanceLoss``, ``RoutingPlanBuilder``):
///
/// ```swift
/// final class TopKSoftmax: Router {
///     struct Configuration: RouterConfiguration {
///         var k = 2
///         static let optionHelp = ["k": "experts per token"]
///         func validate(expertCount: Int) throws {
///             try RouterOption.check(k >= 1 && k <= expertCount, router: "top-k-softmax", field: "k",
///                                    value: k, allowed: "1 to E = \(expertCount)")
///         }
///     }
///     static let name = "top-k-softmax"
///     static let summary = "Softmax over experts, top-k, weights renormalised."
///     let configuration: Configuration, expertCount: Int, gate: SoftmaxGate
///     var parameters: [Parameter] { gate.parameters }
///     var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }
///     init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
///         (self.configuration, self.expertCount) = (configuration, expertCount)
///         gate = SoftmaxGate(width: modelWidth, experts: expertCount, rng: &rng)
///     }
///     …
/// }
/// RouterRegistry.shared.register(TopKSoftmax.self)
/// ```
public protocol Router: AnyObject {
    /// The router's hyperparameters.
    associatedtype Configuration: RouterConfiguration

    /// The name used on the command line, in presets and in reports, e.g. "switch".
    static var name: String { get }
    /// One sentence: what the router does and where it comes from.
    static var summary: String { get }

    /// Creates the router for tokens of width `modelWidth` and `expertCount` experts,
    /// initialising its parameters from `rng`.
    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG)

    /// The hyperparameters in force.
    var configuration: Configuration { get }
    /// The number of expert FFNs the MoE layer must build for this router (the dense
    /// router asks for 1 whatever was requested).
    var expertCount: Int { get }
    /// The router's trainable parameters (empty for random routers).
    var parameters: [Parameter] { get }
    /// State the router keeps across steps without training it (checkpointed; see
    /// ``RouterState``). Empty unless a router says otherwise.
    var state: [RouterState] { get }
    /// What its decisions look like (see ``RouterTraits``); the default is top-1 token choice.
    var traits: RouterTraits { get }
    /// A merge of the experts into one FFN that every token goes through at evaluation, or nil
    /// (the default) to evaluate with the experts as trained. When set, ``route(_:tokenCount:context:rng:plan:)``
    /// is not called at evaluation; the layer's plan sends every token to expert 0 (read "the
    /// merged expert") with weight 1.
    var evaluationMerge: ExpertMerge? { get }

    /// Routes `n` tokens whose representations are the rows of `x` (n × modelWidth,
    /// row-major) into `plan`, and caches what ``backward(plan:dWeights:auxiliaryLossScale:input:dInput:)``
    /// needs. Must call `plan.reset(tokenCount: n, expertCount: expertCount)` first and
    /// `plan.finish()` last (or fill it with ``RoutingPlanBuilder``). Throws a ``RoutingError``
    /// (never traps) when the call cannot be routed, e.g. a group shape the router cannot use.
    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
               rng: inout SeededRNG, plan: RoutingPlan) throws

    /// Backward through the last ``route(_:tokenCount:context:rng:plan:)``: `dWeights` is
    /// dL/d(combine weight) aligned with `plan.weights` (for a soft plan, dL/dD and dL/dC are in
    /// ``RoutingPlan/soft``); `auxiliaryLossScale` is dL/d(the plan's auxiliary loss) (1 in
    /// training). Accumulates the router's parameter gradients and *adds* its contribution to
    /// dL/dx into `dInput` (n × modelWidth).
    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>)

    /// The options that make the router send each token to `k` experts (k experts per token on
    /// average for routers whose experts choose), or nil when it cannot: what `switchyard bench
    /// route --k` and sweeps over k use. The default sets an option named `k` when the router has
    /// one, and otherwise accepts only k = 1.
    static func options(expertsPerToken k: Int, experts: Int) -> [String: String]?

    /// Called once per training step after the optimiser's update with what every MoE layer's
    /// router did in the step; the place to update ``state`` (a balancing bias, a λ). Never
    /// called at evaluation or for a skipped step.
    func afterStep(_ facts: RoutingStepFacts)
}

extension Router {
    /// `k=K` for routers with a `k` option (k ≤ E), none for k = 1 otherwise.
    public static func options(expertsPerToken k: Int, experts: Int) -> [String: String]? {
        if Configuration.optionHelp["k"] != nil { return k >= 1 && k <= experts ? ["k": String(k)] : nil }
        return k == 1 ? [:] : nil
    }

    /// No state.
    public var state: [RouterState] { [] }
    /// Top-1 token choice.
    public var traits: RouterTraits { RouterTraits() }
    /// Evaluate with the experts as trained.
    public var evaluationMerge: ExpertMerge? { nil }
    /// Nothing to update.
    public func afterStep(_ facts: RoutingStepFacts) {}
}

/// A call a router cannot route: the router's name and what is wrong.
public struct RoutingError: Error, CustomStringConvertible, Sendable {
    /// The router's name.
    public var router: String
    /// What is wrong, e.g. "needs image tokens (tokensPerImage > 0); got 0".
    public var message: String

    /// An error of `router`.
    public init(router: String, message: String) {
        self.router = router
        self.message = message
    }

    /// "router hash: needs …".
    public var description: String { "router \(router): \(message)" }
}

/// A router hyperparameter outside its allowed range.
public struct RouterConfigurationError: Error, CustomStringConvertible, Sendable {
    /// The router's name.
    public var router: String
    /// The field, e.g. "capacityFactor".
    public var field: String
    /// The value given, as text.
    public var value: String
    /// The allowed range, e.g. "a finite number > 0".
    public var allowed: String

    /// An error about `field` of `router`.
    public init(router: String, field: String, value: String, allowed: String) {
        self.router = router
        self.field = field
        self.value = value
        self.allowed = allowed
    }

    /// "router switch: capacityFactor = -1 is not allowed; expected a finite number > 0", or
    /// for a name the router does not have (empty `value`), "router switch: unknown option 'foo'; …".
    public var description: String {
        if value.isEmpty { return "router \(router): \(allowed)" }
        return "router \(router): \(field) = \(value) is not allowed; expected \(allowed)"
    }
}
