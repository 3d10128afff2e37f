import SwitchyardTensorCore

/// Multi-head self-attention over the tokens of each image (no mask): one packed QKV
/// projection D → 3D, scaled dot-product attention per head, and an output projection D → D.
public final class MultiHeadAttention: Layer {
    /// The packed Q, K, V projection.
    public let qkv: Linear
    /// The output projection.
    public let projection: Linear
    /// Model width D.
    public let width: Int
    /// Number of heads (D must be divisible by it).
    public let heads: Int
    private var attended: Tensor      // [B·T, D] before the output projection
    private var probabilities: Tensor // [B, heads, T, T]
    private var dAttended: Tensor
    private var dQKV: Tensor

    /// Attention of width `width` with `heads` heads, initialised from `rng`.
    public init(name: String, width: Int, heads: Int, rng: inout SeededRNG) {
        precondition(width % heads == 0, "width \(width) is not divisible by \(heads) heads")
        self.width = width
        self.heads = heads
        qkv = Linear(name: "\(name).qkv", inputWidth: width, outputWidth: 3 * width, rng: &rng)
        projection = Linear(name: "\(name).proj", inputWidth: width, outputWidth: width, rng: &rng)
        attended = Tensor(shape: [0, width])
        probabilities = Tensor(shape: [0])
        dAttended = Tensor(shape: [0, width])
        dQKV = Tensor(shape: [0, 3 * width])
    }

    /// The QKV and output projections.
    public var parameters: [Parameter] { qkv.parameters + projection.parameters }

    /// The attention probabilities of the last forward, [B, heads, T, T].
    public var attentionProbabilities: Tensor { probabilities }

    /// Attention over `batch` images of `tokens` tokens; `x` is [B·T, D] and must stay valid
    /// until backward. Returns the output projection's storage ([B·T, D]).
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, batch: Int, tokens: Int) -> UnsafeMutablePointer<Float> {
        let rows = batch * tokens
        if attended.shape[0] < rows {
            attended = Tensor(shape: [rows, width])
            dAttended = Tensor(shape: [rows, width])
            dQKV = Tensor(shape: [rows, 3 * width])
        }
        if probabilities.count < batch * heads * tokens * tokens {
            probabilities = Tensor(shape: [batch * heads * tokens * tokens])
        }
        let packed = qkv.forward(x, rows: rows)
        attentionForward(qkv: packed, output: attended.pointer, probabilities: probabilities.pointer,
                         batch: batch, tokens: tokens, width: width, heads: heads)
        return projection.forward(attended.pointer, rows: rows)
    }

    /// Backward through the last forward: writes dL/dx ([B·T, D]) into `dInput`.
    public func backward(dOutput: UnsafePointer<Float>, batch: Int, tokens: Int, dInput: UnsafeMutablePointer<Float>) {
        projection.backward(dOutput: dOutput, dInput: dAttended.pointer)
        attentionBackward(dOutput: dAttended.pointer, qkv: qkv.output.pointer, probabilities: probabilities.pointer,
                          dQKV: dQKV.pointer,
                          batch: batch, tokens: tokens, width: width, heads: heads)
        qkv.backward(dOutput: dQKV.pointer, dInput: dInput)
    }
}
