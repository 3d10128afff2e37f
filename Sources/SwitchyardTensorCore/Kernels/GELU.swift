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
//
// Both passes run a ``LaneVector`` (8 lanes, 16 in an AVX-512 build) at a time with
// ``vectorExp(_:)`` (VectorExp.swift, within 2 ulp of e^x) in place of `expf`; the last
// `count % laneVectorWidth` elements go through the same code
// in a zero-padded vector, of which only the valid lanes are stored. The arithmetic around
// the exponential is the scalar formula above, operation for operation.

/// √(2/π).
let geluScale: Float = 0.7978845608028654
/// The cubic coefficient of the tanh approximation.
let geluCubic: Float = 0.044715

/// GELU (tanh approximation, see the top of this file) of `count` elements:
/// `out[i] = ½ x (1 + tanh(√(2/π)(x + 0.044715 x³)))` with `x = x[i]`. `out` may be `x`.
public func geluForward(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + laneVectorWidth <= count {
        storeLaneVector(geluForwardVector(loadLaneVector(x, i)), out, i)
        i += laneVectorWidth
    }
    if i < count { geluForwardTail(x, into: out, from: i, count: count) }
}

/// The last `count − start` (< ``laneVectorWidth``) elements of ``geluForward(_:into:count:)``, in a
/// zero-padded vector. Out of line so that the main loop stays small enough for the
/// optimiser to inline the vector exponential into it (see `vectorExpTail` in
/// VectorExp.swift).
@inline(never)
private func geluForwardTail(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                             from start: Int, count: Int) {
    let rest = count - start
    storePartialVector(geluForwardVector(loadPartialVector(x, start, count: rest)), out, start, count: rest)
}

/// x / (1 + e^(−2u)), u = √(2/π)(x + 0.044715 x³), lane by lane. For large |x|, u = ±∞ or
/// e^(−2u) = 0 / +∞ give x and (−)0; NaN stays NaN.
@inline(__always)
private func geluForwardVector(_ v: LaneVector) -> LaneVector {
    let u = geluScale * (v + geluCubic * v * v * v)
    return v / (1 + vectorExp(-2 * u))
}

/// The backward pass of ``geluForward(_:into:count:)``: *overwrites* `dx[i]` with
/// `gelu′(x[i]) · dy[i]`. `dx` may be `dy` (in place).
public func geluBackward(input x: UnsafePointer<Float>, dOutput dy: UnsafePointer<Float>,
                         dInput dx: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + laneVectorWidth <= count {
        storeLaneVector(geluDerivativeVector(loadLaneVector(x, i)) * loadLaneVector(dy, i), dx, i)
        i += laneVectorWidth
    }
    if i < count { geluBackwardTail(input: x, dOutput: dy, dInput: dx, from: i, count: count) }
}

/// The last `count − start` (< ``laneVectorWidth``) elements of ``geluBackward(input:dOutput:dInput:count:)``,
/// in zero-padded vectors; out of line for the same reason as ``geluForwardTail``.
@inline(never)
private func geluBackwardTail(input x: UnsafePointer<Float>, dOutput dy: UnsafePointer<Float>,
                              dInput dx: UnsafeMutablePointer<Float>, from start: Int, count: Int) {
    let rest = count - start
    let grad = geluDerivativeVector(loadPartialVector(x, start, count: rest))
    storePartialVector(grad * loadPartialVector(dy, start, count: rest), dx, start, count: rest)
}

/// gelu′(x) lane by lane, with x clamped to [−10, 10] (see the top of this file).
@inline(__always)
private func geluDerivativeVector(_ raw: LaneVector) -> LaneVector {
    // Compare-and-select clamp: NaN compares false and stays NaN.
    var v = raw.replacing(with: 10, where: raw .> 10)
    v.replace(with: -10, where: v .< -10)
    let v2 = v * v
    let u = geluScale * (v + geluCubic * v2 * v)
    let e = vectorExp(-2 * u)
    let p = 1 / (1 + e)
    let q = e * p                                      // 1 − p without cancellation
    let slopeFactor: Float = 3 * geluCubic
    return p + 2 * v * p * q * geluScale * (1 + slopeFactor * v2)
}
