import Foundation

// Row-wise softmax and its relatives over a row-major `rows × width` matrix. Every row is
// shifted by its maximum m before exponentiating, so no exponent exceeds e⁰ = 1 and large
// logits cannot overflow:
//
//   softmax(x)_j    = exp(x_j − m) / Σ_k exp(x_k − m)
//   logSumExp(x)    = m + log Σ_k exp(x_k − m)
//   logSoftmax(x)_j = x_j − logSumExp(x)
//
// The sums of exponentials are accumulated in Double (the loop is bound by `expf`, so this
// costs nothing measurable). A row whose elements are all −∞ has no defined softmax and
// yields NaN, as in PyTorch; its logSumExp is −∞.

/// Softmax of each row of the row-major `rows × width` matrix `x`, written to `out`.
/// Numerically stable (max-subtracted). `out` may be `x` (in place).
public func softmaxRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                        rows: Int, width: Int) {
    for r in 0..<rows {
        let xr = x + r * width, yr = out + r * width
        let m = vectorMaximum(xr, count: width)
        var s = 0.0
        for j in 0..<width {
            let e = expf(xr[j] - m)
            yr[j] = e
            s += Double(e)
        }
        let inverse = Float(1 / s)
        for j in 0..<width { yr[j] *= inverse }
    }
}

/// Log-softmax of each row of the row-major `rows × width` matrix `x`, written to `out`:
/// `out[r, j] = x[r, j] − logSumExp(x[r, :])`. Stable for large logits. `out` may be `x`.
public func logSoftmaxRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           rows: Int, width: Int) {
    for r in 0..<rows {
        let xr = x + r * width, yr = out + r * width
        let lse = rowLogSumExp(xr, width: width)
        for j in 0..<width { yr[j] = xr[j] - lse }
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
/// width 0 or of all −∞ gives −∞.
public func logSumExpRows(_ x: UnsafePointer<Float>, rows: Int, width: Int,
                          into out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows { out[r] = rowLogSumExp(x + r * width, width: width) }
}

/// log Σ exp over one row, max-shifted; ±∞ and NaN maxima are returned as they are.
@inline(__always)
func rowLogSumExp(_ row: UnsafePointer<Float>, width: Int) -> Float {
    let m = vectorMaximum(row, count: width)
    if !m.isFinite { return m }
    var s = 0.0
    for j in 0..<width { s += Double(expf(row[j] - m)) }
    return m + Float(log(s))
}
