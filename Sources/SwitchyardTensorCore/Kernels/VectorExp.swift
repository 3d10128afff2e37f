// e^x for a vector of Floats at a time (``LaneVector``: 8 lanes, or 16 in an AVX-512 build), for the kernels whose inner loop is one exponential per
// element (GELU forward and backward, softmax, logSumExp), which called glibc's scalar
// `expf` per element.
//
// Method: Cephes `expf` (S. L. Moshier, Cephes Math Library, expf.c, 1984–1989; the same
// constants as J. Pommier's sse_mathfun.h), with the Cody–Waite argument reduction
// (W. J. Cody and W. Waite, "Software Manual for the Elementary Functions", 1980, ch. 6):
//
//   n = round(x · log₂e)                      so that x = n · ln 2 + r,  |r| ≲ ½ ln 2
//   r = (x − n · C₁) − n · C₂                 C₁ + C₂ = ln 2, C₁ = 0.693359375 = 355/512
//   e^r ≈ 1 + r + r² · P(r)                   P of degree 5, Cephes' minimax coefficients
//   e^x = 2ⁿ · e^r                            2ⁿ written into the exponent field
//
// C₁ has 9 significant bits, so n · C₁ is exact for |n| ≤ 2¹⁵ and x − n · C₁ is exact
// (Sterbenz); C₂ = −2.12194440·10⁻⁴ carries the rest of ln 2. Cephes rounds with
// ⌊x · log₂e + ½⌋, this file ties to even; both round the Float product x · log₂e, so |r|
// may exceed ½ ln 2 by a rounding error, harmless to the polynomial. Everything is
// evaluated in Float without fused multiply-adds, as in Cephes.
//
// Accuracy, measured against Double `exp` over every one of the 2,237,668,968 Floats in
// [ln FLT_MIN, ln FLT_MAX] (an exhaustive run of a release build when this was written):
// at most 0.99 ulp, relative error at most 8.2·10⁻⁸. VectorExpTests checks ≤ 2 ulp and
// ≤ 3·10⁻⁷ on a dense grid and random points, and the special values.
//
// Range. For x < ln(FLT_MIN) ≈ −87.3365 the result is 0 (flushed: no subnormal results,
// which are slow on x86 and of no use to the kernels); for x > ln(FLT_MAX) ≈ 88.7228 the
// result is +∞; NaN stays NaN. n reaches 128 from x ≈ 127.5 · ln 2 ≈ 88.38, below
// ln(FLT_MAX), and 2¹²⁸ is not a Float, so the scaling multiplies by 2^⌊n/2⌋ and then by
// 2^(n − ⌊n/2⌋); above ln(FLT_MAX) that second product overflows to +∞ by itself.
//
// Code generation. A package that depends on Switchyard builds it for baseline x86-64 (SSE2,
// no -target-cpu; the Makefile adds one for this machine's CPU), where
// `SIMD.rounded(.toNearestOrEven)` becomes one call to `rintf` per lane,
// `pointwiseMin`/`pointwiseMax` become branchy per-lane code (they follow IEEE minNum for
// NaN), and a Float→Int32 SIMD conversion a per-lane checked loop. So this file rounds with
// the shifter 1.5 · 2²³ instead (adding it rounds to an integer in the default rounding
// mode, and the sum's bit pattern is 0x4B40_0000 + n), clamps by compare-and-select (which
// lets NaN through; LLVM turns it into maxps/minps with NaN passed on), and otherwise uses
// only SIMD arithmetic, wrapping integer adds and shifts: straight-line packed code (in an
// SSE build two instructions per step for the two halves of an 8-lane vector, in an AVX-512
// build one zmm instruction per step for 16 lanes; checked in the disassembly).

/// log₂ e.
let expLog2e: Float = 1.44269504088896341
/// The high part of ln 2 (9 significant bits, so n · C₁ is exact).
let expLn2High: Float = 0.693359375
/// The low part of ln 2: ln 2 − C₁.
let expLn2Low: Float = -2.12194440e-4
/// 1.5 · 2²³: adding it to |t| < 2²² rounds t to the nearest integer (ties to even).
let expShifter: Float = 12_582_912
/// The bit pattern of ``expShifter``; the rounded sum's pattern minus this is n.
let expShifterBits: Int32 = 0x4B40_0000
/// The smallest Float whose exponential is a normal Float (ln FLT_MIN rounded up).
let expLowerBound: Float = -87.33654
/// The clamp for large x: n = 128 there, so e^x overflows to +∞ in the final product.
let expUpperClamp: Float = 89

/// Cephes expf's coefficients of P: e^r ≈ 1 + r + r² · (p5 + p4 r + … + p0 r⁵).
let expP0: Float = 1.9875691500e-4
let expP1: Float = 1.3981999507e-3
let expP2: Float = 8.3334519073e-3
let expP3: Float = 4.1665795894e-2
let expP4: Float = 1.6666665459e-1
let expP5: Float = 5.0000001201e-1

/// 2ⁿ for integer lanes n in [−126, 127], built in the exponent field.
@inline(__always)
private func powerOfTwo(_ n: LaneVector.MaskStorage) -> LaneVector {
    unsafeBitCast((n &+ 127) &<< 23, to: LaneVector.self)
}

/// e^x lane by lane (method and range at the top of this file): within 2 ulp of the exact
/// value for x in [ln FLT_MIN, ln FLT_MAX], 0 below, +∞ above, NaN for NaN.
@inline(__always)
func vectorExp(_ x: LaneVector) -> LaneVector {
    // Clamp by compare-and-select: NaN compares false and passes through.
    let tooLow = x .< expLowerBound
    var v = x.replacing(with: expLowerBound, where: tooLow)
    v.replace(with: expUpperClamp, where: v .> expUpperClamp)

    // n = round(v · log₂e) with the shifter; its bit pattern holds n.
    let shifted = v * expLog2e + expShifter
    let nFloat = shifted - expShifter
    let n = unsafeBitCast(shifted, to: LaneVector.MaskStorage.self) &- expShifterBits

    // r = v − n ln 2 in two steps (Cody–Waite).
    var r = v - nFloat * expLn2High
    r = r - nFloat * expLn2Low

    // e^r ≈ 1 + r + r² P(r), Horner.
    let r2 = r * r
    var poly = expP0 * r + expP1
    poly = poly * r + expP2
    poly = poly * r + expP3
    poly = poly * r + expP4
    poly = poly * r + expP5
    let er = (poly * r2 + r) + 1

    // 2ⁿ in two factors, since n may be 128.
    let half = n &>> 1
    let result = (er * powerOfTwo(half)) * powerOfTwo(n &- half)
    return result.replacing(with: 0, where: tooLow)
}

/// Loads `count` (0 ≤ count < ``laneVectorWidth``) Floats from `p + offset` into the first lanes of a vector
/// whose other lanes are `padding`. Reads only the `count` elements.
@inline(__always)
func loadPartialVector(_ p: UnsafePointer<Float>, _ offset: Int, count: Int,
                       padding: Float = 0) -> LaneVector {
    var v = LaneVector(repeating: padding)
    for k in 0..<count { v[k] = p[offset + k] }
    return v
}

/// Stores the first `count` (0 ≤ count < ``laneVectorWidth``) lanes of `v` at `p + offset`; writes nothing else.
@inline(__always)
func storePartialVector(_ v: LaneVector, _ p: UnsafeMutablePointer<Float>, _ offset: Int, count: Int) {
    for k in 0..<count { p[offset + k] = v[k] }
}

/// `out[i] = e^x[i]` for `count` elements (method, accuracy and range at the top of
/// VectorExp.swift). The last `count % laneVectorWidth` elements go through the same vector code in a
/// padded vector, so a value's result does not depend on its position. `out` may be `x`
/// (in place).
public func vectorExp(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + laneVectorWidth <= count {
        storeLaneVector(vectorExp(loadLaneVector(x, i)), out, i)
        i += laneVectorWidth
    }
    if i < count { vectorExpTail(x, into: out, from: i, count: count) }
}

/// The last `count − start` (< ``laneVectorWidth``) elements of ``vectorExp(_:into:count:)``. Out of line:
/// Swift inlines an `@inline(__always)` function as large as ``vectorExp(_:)`` only into
/// callers of fewer than 64 basic blocks, and the partial loads and stores would push the
/// main loop past that.
@inline(never)
private func vectorExpTail(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           from start: Int, count: Int) {
    let rest = count - start
    storePartialVector(vectorExp(loadPartialVector(x, start, count: rest)), out, start, count: rest)
}
