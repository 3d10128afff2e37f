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

/// A router: it sees the representations of one routing group (n tokens × d, all tokens
/// of a batch in one layer), decides which experts take which tokens with what combine
/// weights, and backpropagates through that decision.
///
/// A router *decides*; the MoE layer gathers, runs the experts and combines. Randomness
/// comes only from the generator passed to ``route(_:tokenCount:context:rng:plan:)``.
///
/// Writing one (see `docs/custom-router.md`):
///
/// ```swift
/// final class FirstExpertRouter: Router {
///     struct Configuration: RouterConfiguration {
///         static let optionHelp: [String: String] = [:]
///         func validate(expertCount: Int) throws {}
///     }
///     static let name = "first-expert"
///     static let summary = "Every token to expert 0 (a toy)."
///     let configuration: Configuration
///     let expertCount: Int
///     var parameters: [Parameter] { [] }
///     init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
///         self.configuration = configuration
///         self.expertCount = expertCount
///     }
///     func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
///                rng: inout SeededRNG, plan: RoutingPlan) {
///         plan.reset(tokenCount: n, expertCount: expertCount)
///         for t in 0..<n { plan.append(expert: 0, token: t, weight: 1) }
///         plan.finish()
///     }
///     func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
///                   input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {}
/// }
/// RouterRegistry.shared.register(FirstExpertRouter.self)
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
    /// Whether evaluation plans ask for the experts' averaged weights
    /// (`RoutingPlan.usesAveragedExperts`), so that the evaluated model holds one FFN per
    /// layer. False unless a router says otherwise.
    var evaluatesWithAveragedExperts: Bool { get }

    /// Routes `n` tokens whose representations are the rows of `x` (n × modelWidth,
    /// row-major) into `plan`, and caches what ``backward(plan:dWeights:auxiliaryLossScale:input:dInput:)``
    /// needs. Must call `plan.reset(tokenCount: n, expertCount: expertCount)` first and
    /// `plan.finish()` last.
    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
               rng: inout SeededRNG, plan: RoutingPlan)

    /// Backward through the last ``route(_:tokenCount:context:rng:plan:)``: `dWeights` is
    /// dL/d(combine weight) aligned with `plan.weights`; `auxiliaryLossScale` is dL/d(the
    /// plan's auxiliary loss) (1 in training). Accumulates the router's parameter
    /// gradients and *adds* its contribution to dL/dx into `dInput` (n × modelWidth).
    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>)
}

extension Router {
    /// Most routers evaluate with their experts as trained.
    public var evaluatesWithAveragedExperts: Bool { false }
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

    /// "router switch: capacityFactor = -1 is not allowed; expected a finite number > 0".
    public var description: String {
        "router \(router): \(field) = \(value) is not allowed; expected \(allowed)"
    }
}
