import Layers
import Routing
import TensorCore

/// One pre-LayerNorm transformer block over the `[B·T, D]` token rows of a batch:
///
///     h₁ = x + Attention(LayerNorm₁(x))
///     y  = h₁ + MoE(LayerNorm₂(h₁))
///
/// The feed-forward is an ``MoELayer`` (a dense block is an MoE layer with the dense router).
public final class TransformerBlock: Layer {
    /// Pre-attention layer norm.
    public let norm1: LayerNormLayer
    /// Multi-head self-attention over each image's tokens.
    public let attention: MultiHeadAttention
    /// Pre-feed-forward layer norm.
    public let norm2: LayerNormLayer
    /// The (MoE) feed-forward.
    public let feedForward: MoELayer
    /// Model width.
    public let width: Int

    /// The block's output of the last forward, [B·T, D].
    public private(set) var output: Tensor
    private var residual: Tensor      // h₁
    private var dResidual: Tensor     // dL/dh₁
    private var dScratch: Tensor      // gradients flowing into the sublayers' inputs

    /// A block of width `width` with `heads` heads whose feed-forward uses `router`.
    public init(name: String, width: Int, heads: Int, hidden: Int, router: any Router, rng: inout SeededRNG) {
        self.width = width
        norm1 = LayerNormLayer(name: "\(name).norm1", width: width)
        attention = MultiHeadAttention(name: "\(name).attention", width: width, heads: heads, rng: &rng)
        norm2 = LayerNormLayer(name: "\(name).norm2", width: width)
        feedForward = MoELayer(name: "\(name).mlp", width: width, hidden: hidden, router: router, rng: &rng)
        output = Tensor(shape: [0, width])
        residual = Tensor(shape: [0, width])
        dResidual = Tensor(shape: [0, width])
        dScratch = Tensor(shape: [0, width])
    }

    /// Norms, attention, and the feed-forward's experts and router.
    public var parameters: [Parameter] {
        norm1.parameters + attention.parameters + norm2.parameters + feedForward.parameters
    }

    private func ensureCapacity(rows: Int) {
        guard output.shape[0] < rows else { return }
        output = Tensor(shape: [rows, width])
        residual = Tensor(shape: [rows, width])
        dResidual = Tensor(shape: [rows, width])
        dScratch = Tensor(shape: [rows, width])
    }

    /// Forward over `batch` images of `tokensPerImage` tokens; `x` is [B·T, D].
    public func forward(_ x: UnsafePointer<Float>, batch: Int, tokensPerImage: Int, context: RoutingContext,
                        rng: inout SeededRNG) {
        let rows = batch * tokensPerImage, count = rows * width
        ensureCapacity(rows: rows)
        let normed1 = norm1.forward(x, rows: rows)
        let attended = attention.forward(normed1, batch: batch, tokens: tokensPerImage)
        add(x, attended, into: residual.pointer, count: count)
        let normed2 = norm2.forward(residual.pointer, rows: rows)
        let mixed = feedForward.forward(normed2, tokenCount: rows, context: context, rng: &rng)
        add(residual.pointer, mixed, into: output.pointer, count: count)
    }

    /// Backward: `dOutput` is dL/dy; writes dL/dx into `dInput` (overwritten; may not alias
    /// `dOutput`). `x` is the block's input of the last forward.
    public func backward(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>,
                         batch: Int, tokensPerImage: Int) {
        let rows = batch * tokensPerImage, count = rows * width
        // y = h₁ + MoE(LN₂(h₁))
        feedForward.backward(dOutput: dOutput, input: norm2.output.pointer, dInput: dScratch.pointer)
        norm2.backward(dOutput: dScratch.pointer, input: residual.pointer, rows: rows, dInput: dResidual.pointer)
        addInPlace(dResidual.pointer, dOutput, count: count)
        // h₁ = x + Attn(LN₁(x))
        attention.backward(dOutput: dResidual.pointer, batch: batch, tokens: tokensPerImage, dInput: dScratch.pointer)
        norm1.backward(dOutput: dScratch.pointer, input: x, rows: rows, dInput: dInput)
        addInPlace(dInput, dResidual.pointer, count: count)
    }
}
