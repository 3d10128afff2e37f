/// How a router asks the MoE layer to merge its experts into one FFN at evaluation: the merged
/// FFN's weights and biases are Σ_e c_e·θ_e, and every token goes through it with weight 1.
/// Random-batch routing evaluates with the uniform average (AdaMix-style weight averaging); a
/// SMEAR-style router would pass its own coefficients.
public struct ExpertMerge: Equatable, Sendable {
    /// c_e per expert, or nil for the uniform average 1/E.
    public var coefficients: [Float]?

    /// A merge with `coefficients` (nil: the uniform average).
    public init(coefficients: [Float]? = nil) { self.coefficients = coefficients }

    /// The uniform average of all experts.
    public static let average = ExpertMerge()
}
