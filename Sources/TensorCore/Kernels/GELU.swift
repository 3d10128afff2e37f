import Foundation

/// GELU in its tanh form (Hendrycks & Gimpel 2016), as in GPT-2, llm.c and PyTorch's
/// `GELU(approximate="tanh")`: 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³).
///
/// Computed through the identity 0.5·(1 + tanh u) = σ(2u) = 1/(1 + e^(−2u)): one `expf` instead
/// of a `tanhf`, which glibc evaluates through `expm1f` at several times the cost (GELU was a
/// third of the training time with `tanhf`). `out` may alias `x`.
@inlinable
public func geluForward(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    let c: Float = 2 * 0.7978845608028654   // 2·√(2/π)
    for i in 0..<count {
        let v = x[i]
        out[i] = v / (1 + expf(-c * (v + 0.044715 * v * v * v)))
    }
}

/// Backward of ``geluForward(_:into:count:)``: dx = dy · GELU'(x). With s = σ(2u):
/// GELU'(x) = s + x·s·(1 − s)·2·√(2/π)·(1 + 3·0.044715·x²), the derivative of the tanh form.
/// `dx` is overwritten and may alias `dy`.
@inlinable
public func geluBackward(input x: UnsafePointer<Float>, dOutput dy: UnsafePointer<Float>,
                         dInput dx: UnsafeMutablePointer<Float>, count: Int) {
    let c: Float = 2 * 0.7978845608028654
    for i in 0..<count {
        let v = x[i]
        let s = 1 / (1 + expf(-c * (v + 0.044715 * v * v * v)))
        let derivative = s + v * s * (1 - s) * c * (1 + 3 * 0.044715 * v * v)
        dx[i] = dy[i] * derivative
    }
}
