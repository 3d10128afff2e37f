import Foundation

// GELU, tanh approximation (Hendrycks and Gimpel, 2016, "Gaussian Error Linear Units",
// eq. for the tanh approximation; the form used by GPT-2, llm.c and PyTorch's
// `gelu(approximate="tanh")`):
//
//   gelu(x) = ½ · x · (1 + tanh(u)),   u = √(2/π) · (x + 0.044715 · x³)
//
// Computed through the exact identity ½(1 + tanh u) = σ(2u) = 1 / (1 + e^(−2u)):
//
//   gelu(x) = x / (1 + e^(−2u))
//
// which needs one `expf` instead of one `tanhf` (about 4× faster in glibc) and, unlike
// 1 + tanh(u) for negative x, has no cancellation. With p = σ(2u) and 1 − p = e^(−2u)·p:
//
//   gelu′(x) = ½(1 + tanh u) + ½ x · sech²(u) · u′(x)
//            = p + 2x · p(1 − p) · √(2/π) · (1 + 3 · 0.044715 · x²)
//
// using sech²(u) = 1 − tanh²(u) = 4p(1 − p). The backward pass clamps x to [−10, 10]:
// outside it the Float derivative is exactly 1 (x > 10) or below 10⁻³⁵ (x < −10), and
// the clamp keeps x³ and e^(−2u) finite so that 0 · ∞ cannot produce NaN.

/// √(2/π).
let geluScale: Float = 0.7978845608028654
/// The cubic coefficient of the tanh approximation.
let geluCubic: Float = 0.044715

/// GELU (tanh approximation, see the top of this file) of `count` elements:
/// `out[i] = ½ x (1 + tanh(√(2/π)(x + 0.044715 x³)))` with `x = x[i]`. `out` may be `x`.
public func geluForward(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = x[i]
        let u = geluScale * (v + geluCubic * v * v * v)
        out[i] = v / (1 + expf(-2 * u))
    }
}

/// The backward pass of ``geluForward(_:into:count:)``: *overwrites* `dx[i]` with
/// `gelu′(x[i]) · dy[i]`. `dx` may be `dy` (in place).
public func geluBackward(input x: UnsafePointer<Float>, dOutput dy: UnsafePointer<Float>,
                         dInput dx: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count {
        let raw = x[i]
        let v = raw > 10 ? 10 : (raw < -10 ? -10 : raw)   // NaN stays NaN
        let v2 = v * v
        let u = geluScale * (v + geluCubic * v2 * v)
        let e = expf(-2 * u)
        let p = 1 / (1 + e)
        let q = e * p                                      // 1 − p without cancellation
        let grad = p + 2 * v * p * q * geluScale * (1 + 3 * geluCubic * v2)
        dx[i] = grad * dy[i]
    }
}
