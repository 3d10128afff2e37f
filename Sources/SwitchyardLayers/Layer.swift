import SwitchyardTensorCore

/// A building block of the model, in the style of llm.c: `forward` computes its output
/// into buffers the layer owns (allocated once per batch shape) and caches what
/// `backward` needs; `backward` takes the gradient of the loss with respect to the
/// output, *accumulates* the gradients of the layer's ``parameters``, and returns or
/// fills the gradient with respect to the input.
///
/// Each concrete layer documents its forward and backward signatures, which differ by
/// what the layer reads (tokens, images, labels).
public protocol Layer: AnyObject {
    /// The layer's trainable parameters, in a stable order.
    var parameters: [Parameter] { get }
}

extension Layer {
    /// The number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}
