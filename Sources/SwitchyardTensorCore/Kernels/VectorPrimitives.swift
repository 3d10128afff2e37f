// Vectorised inner loops shared by the kernels in this folder: sums, dot products and
// maxima over contiguous Float runs, written with explicit SIMD8 accumulators.
//
// Swift does not reassociate floating-point additions, so a plain `s += x[i]` loop runs
// one add at a time. Four independent SIMD8 accumulators (32 lanes) let the compiler
// issue packed adds back to back, and as a side effect each lane sums only every 32nd
// element, which keeps the rounding error well below that of one serial accumulator.

/// The SIMD vector the kernels load and accumulate in.
public typealias FloatVector = SIMD8<Float>

/// The number of lanes in ``FloatVector``.
public let floatVectorWidth = 8

/// The vector of the kernels whose lanes never meet — an exponential or GELU per element, no
/// sum across lanes: 16 lanes in a build for AVX-512 (the Makefile passes
/// `-DSWITCHYARD_AVX512` with an AVX-512 `-target-cpu` when the CPU has it), else
/// ``FloatVector``. Each lane goes through the same operations at either width, so the
/// results are the same bits; only kernels that sum across lanes would change, and they keep
/// ``FloatVector``.
#if SWITCHYARD_AVX512
public typealias LaneVector = SIMD16<Float>
#else
public typealias LaneVector = SIMD8<Float>
#endif

/// The number of lanes in ``LaneVector``.
public let laneVectorWidth = LaneVector.scalarCount

/// Loads one ``LaneVector`` from `p + offset` (no alignment requirement).
@inlinable @inline(__always)
public func loadLaneVector(_ p: UnsafePointer<Float>, _ offset: Int) -> LaneVector { loadSIMD(p, offset) }

/// Stores one ``LaneVector`` at `p + offset` (no alignment requirement).
@inlinable @inline(__always)
public func storeLaneVector(_ v: LaneVector, _ p: UnsafeMutablePointer<Float>, _ offset: Int) { storeSIMD(v, p, offset) }

/// Loads one ``FloatVector`` from `p + offset` (no alignment requirement).
@inlinable @inline(__always)
public func loadVector(_ p: UnsafePointer<Float>, _ offset: Int) -> FloatVector { loadSIMD(p, offset) }

/// Stores one ``FloatVector`` at `p + offset` (no alignment requirement).
@inlinable @inline(__always)
public func storeVector(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>, _ offset: Int) { storeSIMD(v, p, offset) }

/// One vector of any width from `p + offset`, unaligned: what the four functions above share.
@inlinable @inline(__always)
func loadSIMD<V: SIMD>(_ p: UnsafePointer<Float>, _ offset: Int) -> V where V.Scalar == Float {
    UnsafeRawPointer(p + offset).loadUnaligned(as: V.self)
}

/// Stores one vector of any width at `p + offset`, unaligned.
@inlinable @inline(__always)
func storeSIMD<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>, _ offset: Int) where V.Scalar == Float {
    UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: V.self)
}

/// The sum of the eight lanes, pairwise.
@inline(__always)
func horizontalSum(_ v: FloatVector) -> Float {
    let h = v.lowHalf + v.highHalf
    return (h[0] + h[2]) + (h[1] + h[3])
}

/// Σ x[i] over `count` elements, in Float with 32 interleaved partial sums.
@inline(__always)
func vectorSum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var a0 = FloatVector(), a1 = FloatVector(), a2 = FloatVector(), a3 = FloatVector()
    var i = 0
    while i + 32 <= count {
        a0 += loadVector(x, i)
        a1 += loadVector(x, i + 8)
        a2 += loadVector(x, i + 16)
        a3 += loadVector(x, i + 24)
        i += 32
    }
    while i + 8 <= count {
        a0 += loadVector(x, i)
        i += 8
    }
    var s = horizontalSum((a0 + a1) + (a2 + a3))
    while i < count {
        s += x[i]
        i += 1
    }
    return s
}

/// Σ a[i]·b[i] over `count` elements, in Float with 32 interleaved partial sums.
@inline(__always)
func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var a0 = FloatVector(), a1 = FloatVector(), a2 = FloatVector(), a3 = FloatVector()
    var i = 0
    while i + 32 <= count {
        a0 += loadVector(a, i) * loadVector(b, i)
        a1 += loadVector(a, i + 8) * loadVector(b, i + 8)
        a2 += loadVector(a, i + 16) * loadVector(b, i + 16)
        a3 += loadVector(a, i + 24) * loadVector(b, i + 24)
        i += 32
    }
    while i + 8 <= count {
        a0 += loadVector(a, i) * loadVector(b, i)
        i += 8
    }
    var s = horizontalSum((a0 + a1) + (a2 + a3))
    while i < count {
        s += a[i] * b[i]
        i += 1
    }
    return s
}

/// Σ (x[i] − center)² over `count` elements, in Float with 32 interleaved partial sums.
@inline(__always)
func vectorSumSquaredDeviations(_ x: UnsafePointer<Float>, center: Float, count: Int) -> Float {
    let c = FloatVector(repeating: center)
    var a0 = FloatVector(), a1 = FloatVector(), a2 = FloatVector(), a3 = FloatVector()
    var i = 0
    while i + 32 <= count {
        let d0 = loadVector(x, i) - c, d1 = loadVector(x, i + 8) - c
        let d2 = loadVector(x, i + 16) - c, d3 = loadVector(x, i + 24) - c
        a0 += d0 * d0
        a1 += d1 * d1
        a2 += d2 * d2
        a3 += d3 * d3
        i += 32
    }
    while i + 8 <= count {
        let d = loadVector(x, i) - c
        a0 += d * d
        i += 8
    }
    var s = horizontalSum((a0 + a1) + (a2 + a3))
    while i < count {
        let d = x[i] - center
        s += d * d
        i += 1
    }
    return s
}

/// The largest of `count` elements: −∞ for `count == 0`, NaN if any element is NaN.
@inline(__always)
func vectorMaximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var i = 0
    var best = -Float.infinity
    var sawNaN = false
    if count >= 16 {
        var m0 = FloatVector(repeating: -.infinity), m1 = m0
        var nan0 = SIMDMask<SIMD8<Int32>>(), nan1 = nan0
        while i + 16 <= count {
            let v0 = loadVector(x, i), v1 = loadVector(x, i + 8)
            m0.replace(with: v0, where: v0 .> m0)
            m1.replace(with: v1, where: v1 .> m1)
            nan0 .|= v0 .!= v0
            nan1 .|= v1 .!= v1
            i += 16
        }
        if any(nan0 .| nan1) { return .nan }
        m0.replace(with: m1, where: m1 .> m0)
        let h = m0.lowHalf, g = m0.highHalf
        var q = h
        q.replace(with: g, where: g .> h)
        best = max(max(q[0], q[1]), max(q[2], q[3]))
    }
    while i < count {
        let v = x[i]
        if v > best { best = v }
        sawNaN = sawNaN || v != v
        i += 1
    }
    return sawNaN ? .nan : best
}
