import Foundation

/// GELU in its tanh form (Hendrycks & Gimpel 2016), as in GPT-2, llm.c and PyTorch's
/// `GELU(approximate="tanh")`: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
/// `out` may alias `x`.
@inlinable
public func geluForward(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    let c: Float = 0.7978845608028654   // √(2/π)
    for i in 0..<count {
        let v = x[i]
        out[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
    }
}

/// Backward of ``geluForward(_:into:count:)``: dx = dy · GELU'(x), with
/// GELU'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²),
/// u = √(2/π)·(x + 0.044715·x³). `dx` is overwritten and may alias `dy`.
@inlinable
public func geluBackward(input x: UnsafePointer<Float>, dOutput dy: UnsafePointer<Float>,
                         dInput dx: UnsafeMutablePointer<Float>, count: Int) {
    let c: Float = 0.7978845608028654
    for i in 0..<count {
        let v = x[i]
        let t = tanhf(c * (v + 0.044715 * v * v * v))
        let derivative = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
        dx[i] = dy[i] * derivative
    }
}
