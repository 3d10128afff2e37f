import SwitchyardTensorCore

/// `random-token`: each token goes to k distinct experts drawn uniformly at random, each with
/// weight 1/k; no parameters, no auxiliary loss. The usual random baseline (the
/// "Independent-Random" router of LLaMA-MoE; hash routing in Roller et al. 2021 is its fixed
/// variant). With a capacity factor cf > 0 each expert takes at most ⌈cf·k·n/E⌉ assignments,
/// in token order, and the rest are dropped.
public final class RandomTokenRouter: Router {
    /// Random-token hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// Experts per token.
        public var k = 1
        /// cf of an optional capacity ⌈cf·k·n/E⌉ (0 = no capacity).
        public var capacityFactor = 0.0

        /// k = 1, no capacity.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "k": "distinct experts per token, each with weight 1/k",
            "capacityFactor": "each expert takes at most ceil(cf·k·n/E) assignments (0 = no limit)",
        ]

        /// 1 ≤ k ≤ E, cf ≥ 0.
        public func validate(expertCount: Int) throws {
            try requireRange(k >= 1 && k <= expertCount, "random-token", "k", k, "1 to E = \(expertCount)")
            if capacityFactor != 0 { try ExpertCapacity.validate(capacityFactor, router: "random-token", field: "capacityFactor") }
        }
    }

    /// "random-token".
    public static let name = "random-token"
    /// One sentence.
    public static let summary = "Each token to k distinct experts drawn uniformly, weight 1/k; no parameters, no loss."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// None.
    public var parameters: [Parameter] { [] }
    /// k experts per token.
    public var traits: RouterTraits { RouterTraits(k: Double(configuration.k)) }
    private var builder = RoutingPlanBuilder()
    private var choices: [Int32] = []
    private var weights: [Float] = []

    /// A random-token router.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
    }

    /// Uniform draws of k distinct experts per token (a partial Fisher–Yates shuffle); with a
    /// capacity, each routing group's assignments claim buffers in token order.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount, k = configuration.k
        plan.reset(tokenCount: n, expertCount: e)
        let groups = context.groups(tokenCount: n)
        func capacity(_ tokens: Int) -> Int {
            configuration.capacityFactor > 0
                ? ExpertCapacity.tokens(factor: configuration.capacityFactor, assignments: k * tokens, experts: e) : Int.max
        }
        var pool = Array(0..<e)
        var loads = [Int](repeating: 0, count: e)
        choices = [Int32](repeating: -1, count: n * k)
        weights = [Float](repeating: 1 / Float(k), count: n * k)
        for group in groups {
            let c = capacity(group.count)
            for j in 0..<e { loads[j] = 0 }
            for t in group {
                for j in 0..<k {
                    let pick = j + rng.nextInt(below: e - j)
                    pool.swapAt(j, pick)
                    if loads[pool[j]] < c {
                        loads[pool[j]] += 1
                        choices[t * k + j] = Int32(pool[j])
                    }
                }
            }
        }
        builder.fill(plan, tokenCount: n, k: k, experts: choices, weights: weights)
        if configuration.capacityFactor > 0 { plan.capacity = groups.reduce(0) { $0 + capacity($1.count) } }
    }

    /// Nothing: the weights are constants and there are no parameters.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {}
}
