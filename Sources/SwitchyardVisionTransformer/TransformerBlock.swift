import SwitchyardLayers
import SwitchyardRouting
import SwitchyardTensorCore

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
    /// Dropout on the attention output.
    public let attentionDropout: Dropout
    /// Dropout on the feed-forward output.
    public let feedForwardDropout: Dropout

    /// The block's output of the last forward, [B·T, D].
    public private(set) var output: Tensor
    private var residual: Tensor      // h₁
    private var dResidual: Tensor     // dL/dh₁
    private var dScratch: Tensor      // gradients flowing into the sublayers' inputs
    private var dDropped: Tensor      // dL/d(attention output) under dropout

    /// A block of width `width` with `heads` heads whose feed-forward uses `router`, with
    /// `sharedExperts` shared experts of hidden width `sharedHidden` (default `hidden`) beside
    /// the routed ones.
    public init(name: String, width: Int, heads: Int, hidden: Int, router: any Router, dropout: Float = 0,
                sharedExperts: Int = 0, sharedHidden: Int? = nil, sharedGate: SharedExpertGate = .none,
                rng: inout SeededRNG) {
        self.width = width
        attentionDropout = Dropout(rate: dropout)
        feedForwardDropout = Dropout(rate: dropout)
        norm1 = LayerNormLayer(name: "\(name).norm1", width: width)
        attention = MultiHeadAttention(name: "\(name).attention", width: width, heads: heads, rng: &rng)
        norm2 = LayerNormLayer(name: "\(name).norm2", width: width)
        feedForward = MoELayer(name: "\(name).mlp", width: width, hidden: hidden, router: router, shared: sharedExperts,
                               sharedHidden: sharedHidden, sharedGate: sharedGate, rng: &rng)
        output = Tensor(shape: [0, width])
        residual = Tensor(shape: [0, width])
        dResidual = Tensor(shape: [0, width])
        dScratch = Tensor(shape: [0, width])
        dDropped = Tensor(shape: [0, width])
    }

    /// Norms, attention, and the feed-forward's experts and router.
    public var parameters: [Parameter] {
        norm1.parameters + attention.parameters + norm2.parameters + feedForward.parameters
    }

    private var dropoutRate: Float { attentionDropout.rate }

    private func ensureCapacity(rows: Int) {
        guard output.shape[0] < rows else { return }
        output = Tensor(shape: [rows, width])
        residual = Tensor(shape: [rows, width])
        dResidual = Tensor(shape: [rows, width])
        dScratch = Tensor(shape: [rows, width])
        dDropped = Tensor(shape: dropoutRate > 0 ? [rows, width] : [0, width])
    }

    /// Forward over `batch` images of `tokensPerImage` tokens; `x` is [B·T, D]. Throws when the
    /// router cannot route the call.
    public func forward(_ x: UnsafePointer<Float>, batch: Int, tokensPerImage: Int, context: RoutingContext,
                        rng: inout SeededRNG) throws {
        let rows = batch * tokensPerImage, count = rows * width
        ensureCapacity(rows: rows)
        let normed1 = norm1.forward(x, rows: rows)
        let attended = attention.forward(normed1, batch: batch, tokens: tokensPerImage)
        attentionDropout.forward(attended, count: count, training: context.training, rng: &rng)
        add(x, attended, into: residual.pointer, count: count)
        let normed2 = norm2.forward(residual.pointer, rows: rows)
        let mixed = try feedForward.forward(normed2, tokenCount: rows, context: context, rng: &rng)
        feedForwardDropout.forward(mixed, count: count, training: context.training, rng: &rng)
        add(residual.pointer, mixed, into: output.pointer, count: count)
    }

    /// Backward: `dOutput` is dL/dy; writes dL/dx into `dInput` (overwritten; may not alias
    /// `dOutput`). `x` is the block's input of the last forward.
    public func backward(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>,
                         batch: Int, tokensPerImage: Int) {
        let rows = batch * tokensPerImage, count = rows * width
        // y = h₁ + Dropout(MoE(LN₂(h₁)))
        var dMixed = dOutput
        if feedForwardDropout.rate > 0 {
            dResidual.pointer.update(from: dOutput, count: count)
            feedForwardDropout.backward(dResidual.pointer, count: count)
            dMixed = UnsafePointer(dResidual.pointer)
        }
        feedForward.backward(dOutput: dMixed, input: norm2.output.pointer, dInput: dScratch.pointer)
        norm2.backward(dOutput: dScratch.pointer, input: residual.pointer, rows: rows, dInput: dResidual.pointer)
        addInPlace(dResidual.pointer, dOutput, count: count)
        // h₁ = x + Dropout(Attn(LN₁(x)))
        var dAttended = UnsafePointer(dResidual.pointer)
        if attentionDropout.rate > 0 {
            // dh₁ is still needed for the residual path: drop into a copy.
            dDropped.pointer.update(from: dResidual.pointer, count: count)
            attentionDropout.backward(dDropped.pointer, count: count)
            dAttended = UnsafePointer(dDropped.pointer)
        }
        attention.backward(dOutput: dAttended, batch: batch, tokens: tokensPerImage, dInput: dScratch.pointer)
        norm1.backward(dOutput: dScratch.pointer, input: x, rows: rows, dInput: dInput)
        addInPlace(dInput, dResidual.pointer, count: count)
    }
}
