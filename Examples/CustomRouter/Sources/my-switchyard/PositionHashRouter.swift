import SwitchyardRouting
import SwitchyardTensorCore

/// `position-hash`: hash routing (Roller et al. 2021, "Hash Layers For Large Sparse Models") by
/// patch position: each patch goes to a fixed expert, π(position) mod E for a fixed random
/// permutation π of the positions, and every class token to expert 0. The assignment never
/// changes and needs no parameters and no balancing loss; it is balanced over an image's patches in
/// expectation, exactly when `positions` equals their number and E divides it.
///
/// Positions come from the routing context (`context.patchIndex(ofToken:)`), so the router needs
/// no option for the image shape; it refuses tokens that are not image patches. The permutation
/// is drawn from the router's seed and kept as router state, so a checkpoint carries it.
final class PositionHashRouter: Router {
    struct Configuration: RouterConfiguration {
        /// Image positions the permutation covers (patches per image); larger images are refused.
        var positions = 256
        static let optionHelp = ["positions": "patches per image the position table covers"]

        func validate(expertCount: Int) throws {
            try RouterOption.check(positions >= 1 && positions <= 1 << 20, router: "position-hash", field: "positions",
                                   value: positions, allowed: "1 to 1048576")
        }
    }

    static let name = "position-hash"
    static let summary = "Fixed expert per patch position, π(position) mod E; class token to expert 0 (Roller et al. 2021)."

    let configuration: Configuration
    let expertCount: Int
    var parameters: [Parameter] { [] }
    /// π as Floats (router state: saved with the model, never trained).
    let table: RouterState
    var state: [RouterState] { [table] }
    private var builder = RoutingPlanBuilder()

    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        var permutation = Array(0..<configuration.positions)
        for i in stride(from: permutation.count - 1, to: 0, by: -1) { permutation.swapAt(i, rng.nextInt(below: i + 1)) }
        table = RouterState(name: "permutation", values: permutation.map(Float.init))
    }

    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
               rng: inout SeededRNG, plan: RoutingPlan) throws {
        guard context.tokensPerImage > 0 else {
            throw RoutingError(router: Self.name, message: "needs image tokens (the context has no image shape)")
        }
        guard context.tokensPerImage - 1 <= configuration.positions else {
            throw RoutingError(router: Self.name, message: "images have \(context.tokensPerImage - 1) patches; "
                               + "the table covers \(configuration.positions) (set --router-option positions=N)")
        }
        var experts = [Int32](repeating: 0, count: n)
        for t in 0..<n {
            if let p = context.patchIndex(ofToken: t) { experts[t] = Int32(Int(table[p]) % expertCount) }
        }
        plan.reset(tokenCount: n, expertCount: expertCount)
        builder.fill(plan, tokenCount: n, k: 1, experts: experts, weights: [Float](repeating: 1, count: n))
    }

    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        // Constant weights and no parameters: nothing flows back through the router.
    }
}
