import Foundation
import SwitchyardTensorCore

/// `hash`: hash routing by patch position (Roller et al. 2021, "Hash Layers For Large Sparse
/// Models", arXiv 2106.04426; the image-patch form recommended in routers-next A1).
///
/// A fixed random permutation π of the patch positions, drawn once from the router's seed and kept
/// as router state (saved with the model, so a resumed or evaluated model routes the same way —
/// MoEBERT's `hash-random` table is not saved, a pitfall avoided here): patch p goes to expert
/// π(p) mod E, each class token to expert `classTokenExpert`. Same in training and evaluation; no
/// capacity, nothing dropped. Exactly balanced over an image's patches only when `positions` equals
/// their number and E divides it.
///
/// Combine weight 1 (Roller et al.), or with `learnedWeights` the softmax gate's probability of the
/// hashed expert (the DeepSeek-V4-port variant: hash selection, learned weights; W is then trained
/// through the weights only).
public final class HashRouter: Router {
    /// Hash hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// The expert of every class token.
        public var classTokenExpert = 0
        /// Weight the hashed expert by a learned softmax gate's probability instead of 1.
        public var learnedWeights = false
        /// Patch positions the permutation covers.
        public var positions = 1024

        /// Roller et al.: fixed table, weight 1.
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "classTokenExpert": "the expert every class token goes to",
            "learnedWeights": "weight the hashed expert by a learned softmax gate's probability (else 1)",
            "positions": "patch positions the permutation covers (images with more patches are refused)",
        ]

        /// Expert in 0..<E, positions 1…2²⁰.
        public func validate(expertCount: Int) throws {
            try requireRange(classTokenExpert >= 0 && classTokenExpert < expertCount, "hash", "classTokenExpert",
                             classTokenExpert, "0 to E − 1 = \(expertCount - 1)")
            try requireRange(positions >= 1 && positions <= 1 << 20, "hash", "positions", positions, "1 to 1048576")
        }
    }

    /// "hash".
    public static let name = "hash"
    /// One sentence.
    public static let summary = "Fixed expert per patch position, π(position) mod E, class token to a fixed expert (Roller et al. 2021)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// π, as Floats (router state).
    public let table: RouterState
    /// The gate of `learnedWeights`.
    public let gate: SoftmaxGate?
    /// W when weights are learned.
    public var parameters: [Parameter] { gate?.parameters ?? [] }
    /// The permutation.
    public var state: [RouterState] { [table] }

    private var builder = RoutingPlanBuilder()
    private var experts: [Int32] = [], weights: [Float] = []

    /// A hash router; π is drawn from `rng`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        var permutation = Array(0..<configuration.positions)
        for i in stride(from: permutation.count - 1, to: 0, by: -1) { permutation.swapAt(i, rng.nextInt(below: i + 1)) }
        table = RouterState(name: "permutation", values: permutation.map(Float.init))
        gate = configuration.learnedWeights ? SoftmaxGate(width: modelWidth, experts: expertCount, rng: &rng) : nil
    }

    /// Token t's expert from its position.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        guard context.tokensPerImage > 0 else {
            throw RoutingError(router: Self.name, message: "routes by patch position and needs image tokens; the call has no image shape")
        }
        guard context.tokensPerImage - 1 <= configuration.positions else {
            throw RoutingError(router: Self.name, message: "images have \(context.tokensPerImage - 1) patches; the table covers "
                               + "\(configuration.positions) (set --router-option positions=N)")
        }
        let e = expertCount
        if experts.count != n { experts = [Int32](repeating: 0, count: n); weights = [Float](repeating: 1, count: n) }
        for t in 0..<n {
            experts[t] = Int32(context.patchIndex(ofToken: t).map { Int(table[$0]) % e } ?? configuration.classTokenExpert)
        }
        if let gate {
            let p = gate.forward(x, tokenCount: n)
            for t in 0..<n { weights[t] = p[t * e + Int(experts[t])] }
            plan.probabilities = gate.scoreTensor
        } else {
            for t in 0..<n { weights[t] = 1 }
        }
        plan.reset(tokenCount: n, expertCount: e)
        builder.fill(plan, tokenCount: n, k: 1, experts: experts, weights: weights)
        plan.probabilities = gate?.scoreTensor
        plan.preferredExpert = experts
    }

    /// Through the learned weights, if any.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        gate?.backward(plan: plan, dWeights: dWeights, base: nil, input: x, dInput: dInput)
    }
}
