import SwitchyardTensorCore

/// Layer normalisation over the rows of its input (Ba et al. 2016), with learned gain γ
/// (initialised to 1) and shift β (0), neither of them weight-decayed.
public final class LayerNormLayer: Layer {
    /// γ, [width].
    public let gamma: Parameter
    /// β, [width].
    public let beta: Parameter
    /// Row width.
    public let width: Int
    /// ε added to the variance.
    public let epsilon: Float
    /// The output of the last forward.
    public private(set) var output: Tensor
    private var mean: Tensor
    private var rstd: Tensor

    /// A layer norm over rows of `width`.
    public init(name: String, width: Int, epsilon: Float = 1e-5) {
        self.width = width
        self.epsilon = epsilon
        gamma = Parameter(name: "\(name).weight", shape: [width], decays: false)
        gamma.value.fill(1)
        beta = Parameter(name: "\(name).bias", shape: [width], decays: false)
        output = Tensor(shape: [0, width])
        mean = Tensor(shape: [0])
        rstd = Tensor(shape: [0])
    }

    /// γ and β.
    public var parameters: [Parameter] { [gamma, beta] }

    /// Normalises `rows` rows of `x`; returns ``output``'s storage.
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, rows: Int) -> UnsafeMutablePointer<Float> {
        if output.shape[0] < rows {
            output = Tensor(shape: [rows, width])
            mean = Tensor(shape: [rows])
            rstd = Tensor(shape: [rows])
        }
        layerNormForward(x, gamma: gamma.value.pointer, beta: beta.value.pointer, into: output.pointer,
                         mean: mean.pointer, rstd: rstd.pointer, rows: rows, width: width, epsilon: epsilon)
        return output.pointer
    }

    /// Backward through the last forward over the same `x`: writes dL/dx into `dInput`
    /// (may alias `dOutput`) and accumulates dγ, dβ.
    public func backward(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int,
                         dInput: UnsafeMutablePointer<Float>) {
        layerNormBackward(dOutput: dOutput, input: x, gamma: gamma.value.pointer, mean: mean.pointer,
                          rstd: rstd.pointer, dInput: dInput, dGamma: gamma.gradient.pointer,
                          dBeta: beta.gradient.pointer, rows: rows, width: width)
    }
}
