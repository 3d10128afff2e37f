import SwitchyardRouting
import SwitchyardTensorCore

/// `hash`: hash routing (Roller et al. 2021, "Hash Layers For Large Sparse Models"): each token
/// goes to a fixed expert chosen by a hash of its position in the image, so the assignment never
/// changes during training and needs no parameters and no balancing loss.
///
/// Token t of a routing group sits at position t mod T in its image (T tokens per image); the
/// expert is a multiplicative hash of that position, mod E.
final class HashRouter: Router {
    struct Configuration: RouterConfiguration {
        /// Tokens per image (50 for the fmnist-small preset: 49 patches and the CLS token).
        var tokensPerImage = 50
        /// Mixes the hash, so that different salts give different fixed assignments.
        var salt = 0

        static let optionHelp = [
            "tokensPerImage": "tokens per image, to recover each token's position",
            "salt": "changes which fixed position→expert map is used",
        ]

        func validate(expertCount: Int) throws {
            if tokensPerImage < 1 {
                throw RouterConfigurationError(router: "hash", field: "tokensPerImage",
                                               value: String(tokensPerImage), allowed: "at least 1")
            }
        }
    }

    static let name = "hash"
    static let summary = "Fixed expert per patch position by hashing (Roller et al. 2021); no parameters."

    let configuration: Configuration
    let expertCount: Int
    var parameters: [Parameter] { [] }

    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
    }

    func expert(forPosition position: Int) -> Int {
        let h = UInt64(position &+ configuration.salt &* 7919) &* 0x9E37_79B9_7F4A_7C15
        return Int((h >> 32) % UInt64(expertCount))
    }

    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
               rng: inout SeededRNG, plan: RoutingPlan) {
        plan.reset(tokenCount: n, expertCount: expertCount)
        // The plan is filled expert by expert.
        for e in 0..<expertCount {
            for t in 0..<n where expert(forPosition: t % configuration.tokensPerImage) == e {
                plan.append(expert: e, token: t, weight: 1)
            }
        }
        plan.finish()
    }

    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        // Constant weights and no parameters: nothing flows back through the router.
    }
}
