/// What a router may know about the call besides the tokens.
public struct RoutingContext: Sendable {
    /// True while training (noise, jitter, random draws, training capacity factor);
    /// false at evaluation.
    public var training: Bool
    /// The index of the MoE layer in the model.
    public var layer: Int
    /// The optimisation step (0-based).
    public var step: Int
    /// A random number drawn once per step and shared by every layer, for routers whose
    /// draw must be the same in all layers (random-batch routing picks one expert per
    /// step for the whole model from it).
    public var sharedDraw: UInt64

    /// A context.
    public init(training: Bool, layer: Int = 0, step: Int = 0, sharedDraw: UInt64 = 0) {
        self.training = training
        self.layer = layer
        self.step = step
        self.sharedDraw = sharedDraw
    }
}
