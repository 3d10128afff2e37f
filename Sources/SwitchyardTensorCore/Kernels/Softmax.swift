import Foundation

// Row-wise softmax and its relatives over a row-major `rows × width` matrix. Every row is
// shifted by its maximum m before exponentiating, so no exponent exceeds e⁰ = 1 and large
// logits cannot overflow:
//
//   softmax(x)_j    = exp(x_j − m) / Σ_k exp(x_k − m)
//   logSumExp(x)    = m + log Σ_k exp(x_k − m)
//   logSoftmax(x)_j = x_j − logSumExp(x)
//
// The exponentials come from ``vectorExp(_:into:count:)`` (VectorExp.swift: a whole vector at a
// time, within 2 ulp of e^x, and 0 below e^−87.34 ≈ 1.2·10⁻³⁸, negligible next to the term
// e⁰ = 1 of the maximum). The rows are processed in blocks of about 2,048 elements: the
// shifted values x − m of a block are written out, exponentiated in one flat pass, then
// summed and scaled row by row while the block is in L1. The flat pass keeps independent
// exponentials in flight even for narrow rows (the 4-wide rows of a 4-expert router), where
// one vector exponential per row would leave every row waiting on its own long chain of
// dependent operations.
//
// The sums of the exponentials (terms in [0, 1]) are accumulated in Float by
// ``vectorSum(_:count:)`` (VectorPrimitives.swift): 32 interleaved partial sums of at most
// ⌊width/32⌋ + 3 terms each, combined pairwise, plus up to 7 tail terms. The error bound for
// summing non-negative terms (Higham, "Accuracy and Stability of Numerical Algorithms",
// 2nd ed., §4.2: relative error ≤ (additions on the longest chain) · 2⁻²⁴) is then
// (⌊width/32⌋ + 15) · 2⁻²⁴: 1·10⁻⁶ at width 100, 5·10⁻⁶ at width 2,000, and far less in
// practice.
//
// A row whose elements are all −∞ has no defined softmax and yields NaN
// (x − m = −∞ − (−∞) = NaN), as in PyTorch; its logSumExp is −∞.

/// The number of elements per block of rows (8 KB of Floats; at least one row per block).
private let softmaxBlockElements = 2048

/// The number of rows of width `width` per block.
@inline(__always)
private func softmaxBlockRows(width: Int) -> Int { max(1, softmaxBlockElements / max(width, 1)) }

/// For each of `rows` rows of width `width` (> 0): `e[r, j] = exp(x[r, j] − m)` with m the
/// row maximum (−∞ for an all −∞ row, NaN if the row holds a NaN), also written to
/// `maxima[r]` if `maxima` is given. `e` may be `x` (in place).
private func shiftedExponentials(_ x: UnsafePointer<Float>, into e: UnsafeMutablePointer<Float>,
                                 maxima: UnsafeMutablePointer<Float>?, rows: Int, width: Int) {
    for r in 0..<rows {
        let xr = x + r * width, er = e + r * width
        let m = vectorMaximum(xr, count: width)
        maxima?[r] = m
        let mv = FloatVector(repeating: m)
        var j = 0
        while j + floatVectorWidth <= width {
            storeVector(loadVector(xr, j) - mv, er, j)
            j += floatVectorWidth
        }
        while j < width {
            er[j] = xr[j] - m
            j += 1
        }
    }
    vectorExp(e, into: e, count: rows * width)
}

/// Multiplies `count` elements at `p` by `factor` in place.
@inline(__always)
private func scaleInPlace(_ p: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
    let f = FloatVector(repeating: factor)
    var j = 0
    while j + floatVectorWidth <= count {
        storeVector(loadVector(p, j) * f, p, j)
        j += floatVectorWidth
    }
    while j < count {
        p[j] *= factor
        j += 1
    }
}

/// Softmax of each row of the row-major `rows × width` matrix `x`, written to `out`.
/// Numerically stable (max-subtracted). `out` may be `x` (in place).
public func softmaxRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                        rows: Int, width: Int) {
    guard width > 0, rows > 0 else { return }
    let blockRows = softmaxBlockRows(width: width)
    var r0 = 0
    while r0 < rows {
        let count = min(blockRows, rows - r0)
        let block = out + r0 * width
        shiftedExponentials(x + r0 * width, into: block, maxima: nil, rows: count, width: width)
        for r in 0..<count {
            let yr = block + r * width
            scaleInPlace(yr, by: 1 / vectorSum(yr, count: width), count: width)
        }
        r0 += count
    }
}

/// Log-softmax of each row of the row-major `rows × width` matrix `x`, written to `out`:
/// `out[r, j] = x[r, j] − logSumExp(x[r, :])`. Stable for large logits. `out` may be `x`.
public func logSoftmaxRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           rows: Int, width: Int) {
    guard width > 0, rows > 0 else { return }
    let blockRows = softmaxBlockRows(width: width)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: blockRows) { lse in
        var r0 = 0
        while r0 < rows {
            let count = min(blockRows, rows - r0)
            logSumExpBlock(x + r0 * width, rows: count, width: width, into: lse.baseAddress!)
            for r in 0..<count {
                let xr = x + (r0 + r) * width, yr = out + (r0 + r) * width
                let l = FloatVector(repeating: lse[r])
                var j = 0
                while j + floatVectorWidth <= width {
                    storeVector(loadVector(xr, j) - l, yr, j)
                    j += floatVectorWidth
                }
                while j < width {
                    yr[j] = xr[j] - lse[r]
                    j += 1
                }
            }
            r0 += count
        }
    }
}

/// The backward pass of ``softmaxRows(_:into:rows:width:)``: given the softmax output `y`
/// and the gradient `dy` with respect to it, writes (overwrites) the gradient with respect
/// to the input, `dx[r, j] = y[r, j] · (dy[r, j] − Σ_k dy[r, k] · y[r, k])`.
/// `dx` may be `dy` (in place).
public func softmaxRowsBackward(output y: UnsafePointer<Float>, dOutput dy: UnsafePointer<Float>,
                                dInput dx: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let yr = y + r * width, dyr = dy + r * width, dxr = dx + r * width
        let dot = vectorDot(dyr, yr, count: width)
        for j in 0..<width { dxr[j] = yr[j] * (dyr[j] - dot) }
    }
}

/// `out[r] = log Σ_j exp(x[r, j])` for each row of the row-major `rows × width` matrix `x`,
/// computed stably as `m + log Σ_j exp(x[r, j] − m)` with `m` the row maximum. A row of
/// width 0 or of all −∞ gives −∞. `out` must not overlap `x`.
public func logSumExpRows(_ x: UnsafePointer<Float>, rows: Int, width: Int,
                          into out: UnsafeMutablePointer<Float>) {
    guard width > 0 else {
        for r in 0..<rows { out[r] = -.infinity }
        return
    }
    let blockRows = softmaxBlockRows(width: width)
    var r0 = 0
    while r0 < rows {
        let count = min(blockRows, rows - r0)
        logSumExpBlock(x + r0 * width, rows: count, width: width, into: out + r0)
        r0 += count
    }
}

/// `lse[r]` = log Σ exp over row r of a block of `rows` ≤ `softmaxBlockRows(width:)` rows
/// of width `width` > 0, max-shifted; ±∞ and NaN maxima are returned as they are. `lse` must
/// not overlap `x`.
private func logSumExpBlock(_ x: UnsafePointer<Float>, rows: Int, width: Int,
                            into lse: UnsafeMutablePointer<Float>) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * width) { e in
        let er = e.baseAddress!
        shiftedExponentials(x, into: er, maxima: lse, rows: rows, width: width)
        for r in 0..<rows where lse[r].isFinite {
            lse[r] += logf(vectorSum(er + r * width, count: width))
        }
    }
}

/// Softmax of each row of the row-major `rows × width` matrix `x` into `out`, and each row's
/// log-sum-exp into `logSumExp[r]`, from one set of exponentials: the probabilities are those
/// of ``softmaxRows(_:into:rows:width:)`` and the log-sum-exps those of
/// ``logSumExpRows(_:rows:width:into:)``, bit for bit (a router needs both). `out` may be `x`;
/// `logSumExp` must not overlap either. `width` > 0.
public func softmaxRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                        rows: Int, width: Int, logSumExp: UnsafeMutablePointer<Float>) {
    guard width > 0, rows > 0 else { return }
    let blockRows = softmaxBlockRows(width: width)
    var r0 = 0
    while r0 < rows {
        let count = min(blockRows, rows - r0)
        let block = out + r0 * width, lse = logSumExp + r0
        shiftedExponentials(x + r0 * width, into: block, maxima: lse, rows: count, width: width)
        for r in 0..<count {
            let yr = block + r * width
            let sum = vectorSum(yr, count: width)
            if lse[r].isFinite { lse[r] += logf(sum) }
            scaleInPlace(yr, by: 1 / sum, count: width)
        }
        r0 += count
    }
}
