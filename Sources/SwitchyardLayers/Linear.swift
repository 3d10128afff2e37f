import Foundation
import SwitchyardTensorCore

/// A fully connected layer y = x·Wᵀ + b over rows, with W stored [out, in] as in PyTorch.
/// Initialisation as PyTorch's `nn.Linear`: W and b uniform on ±1/√in.
public final class Linear: Layer {
    /// Weight, [outputWidth, inputWidth].
    public let weight: Parameter
    /// Bias, [outputWidth], or nil.
    public let bias: Parameter?
    /// Input width.
    public let inputWidth: Int
    /// Output width.
    public let outputWidth: Int
    /// The output of the last forward, [rows, outputWidth] (grown to the largest row count seen).
    public private(set) var output: Tensor
    private var input: UnsafePointer<Float>?
    private var rows = 0

    /// A layer from `inputWidth` to `outputWidth` features, initialised from `rng`.
    public init(name: String, inputWidth: Int, outputWidth: Int, bias: Bool = true, rng: inout SeededRNG) {
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        weight = Parameter(name: "\(name).weight", shape: [outputWidth, inputWidth], decays: true)
        let bound = 1 / Float(inputWidth).squareRoot()
        rng.fillUniform(weight.value.pointer, count: weight.count, low: -bound, high: bound)
        if bias {
            let b = Parameter(name: "\(name).bias", shape: [outputWidth], decays: false)
            rng.fillUniform(b.value.pointer, count: b.count, low: -bound, high: bound)
            self.bias = b
        } else {
            self.bias = nil
        }
        output = Tensor(shape: [0, outputWidth])
    }

    /// Weight and bias.
    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// y = x·Wᵀ + b for `rows` rows of `x` ([rows, inputWidth]) into ``output``; `x` must stay
    /// valid until ``backward(dOutput:dInput:)``. Returns ``output``'s storage.
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, rows: Int) -> UnsafeMutablePointer<Float> {
        if output.shape[0] < rows { output = Tensor(shape: [rows, outputWidth]) }
        forward(x, rows: rows, into: output.pointer)
        return output.pointer
    }

    /// y = x·Wᵀ + b written to `destination` ([rows, outputWidth]) instead of ``output``.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, into destination: UnsafeMutablePointer<Float>) {
        input = x
        self.rows = rows
        gemm(.none, .transposed, m: rows, n: outputWidth, k: inputWidth,
             a: x, lda: inputWidth, b: weight.value.pointer, ldb: inputWidth, c: destination, ldc: outputWidth)
        if let bias { addRowBias(destination, bias: bias.value.pointer, rows: rows, width: outputWidth) }
    }

    /// Backward through the last forward: dW += dYᵀ·x, db += Σ dY, and dX = dY·W written to
    /// `dInput` ([rows, inputWidth]) unless it is nil.
    public func backward(dOutput: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>?) {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        gemm(.transposed, .none, m: outputWidth, n: inputWidth, k: rows,
             a: dOutput, lda: outputWidth, b: x, ldb: inputWidth, beta: 1,
             c: weight.gradient.pointer, ldc: inputWidth)
        if let bias { accumulateColumnSums(dOutput, rows: rows, width: outputWidth, into: bias.gradient.pointer) }
        if let dInput {
            gemm(.none, .none, m: rows, n: inputWidth, k: outputWidth,
                 a: dOutput, lda: outputWidth, b: weight.value.pointer, ldb: inputWidth, c: dInput, ldc: inputWidth)
        }
    }
}
