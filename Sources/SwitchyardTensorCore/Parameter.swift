/// A trainable tensor and its gradient, with what the optimizer needs to know about it.
///
/// Layers and routers own their parameters and list them in `parameters`; backward
/// passes *accumulate* into ``gradient`` (the trainer zeroes all gradients once per
/// step), and the optimizer updates ``value`` in place.
public final class Parameter: @unchecked Sendable {
    /// A dotted name unique within a model, e.g. `blocks.2.attention.qkv.weight`.
    public var name: String
    /// The current value.
    public let value: Tensor
    /// The gradient of the loss with respect to ``value``, accumulated by backward.
    public let gradient: Tensor
    /// Whether AdamW applies weight decay (false for biases, norms and embeddings).
    public let decays: Bool

    /// A zero-initialised parameter of the given shape.
    public init(name: String, shape: [Int], decays: Bool) {
        self.name = name
        self.value = Tensor(shape: shape)
        self.gradient = Tensor(shape: shape)
        self.decays = decays
    }

    /// The number of scalars.
    public var count: Int { value.count }
}
