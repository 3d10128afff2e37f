import Foundation

/// Row softmax of the rows × width matrix x: out[r, j] = exp(x[r,j] − max_r) / Σ_k exp(x[r,k] − max_r).
/// Subtracting the row maximum keeps large logits from overflowing. `out` may alias `x`.
@inlinable
public func softmaxRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let xr = x + r * width, yr = out + r * width
        let m = maximum(xr, count: width)
        var s: Float = 0
        for j in 0..<width {
            let e = expf(xr[j] - m)
            yr[j] = e
            s += e
        }
        let inv = 1 / s
        for j in 0..<width { yr[j] *= inv }
    }
}

/// Row log-softmax: out[r, j] = x[r, j] − logsumexp_r. `out` may alias `x`.
@inlinable
public func logSoftmaxRows(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let xr = x + r * width, yr = out + r * width
        let m = maximum(xr, count: width)
        var s: Float = 0
        for j in 0..<width { s += expf(xr[j] - m) }
        let lse = m + logf(s)
        for j in 0..<width { yr[j] = xr[j] - lse }
    }
}

/// out[r] = log Σ_j exp(x[r, j]), computed stably.
@inlinable
public func logSumExpRows(_ x: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * width
        let m = maximum(xr, count: width)
        var s: Float = 0
        for j in 0..<width { s += expf(xr[j] - m) }
        out[r] = m + logf(s)
    }
}

/// Backward of ``softmaxRows(_:into:rows:width:)``: given y = softmax(x) and dL/dy, writes
/// dL/dx = y ⊙ (dy − Σ_j dy_j y_j). `dx` may alias `dy`.
@inlinable
public func softmaxRowsBackward(output y: UnsafePointer<Float>, dOutput dy: UnsafePointer<Float>,
                                dInput dx: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let yr = y + r * width, dyr = dy + r * width, dxr = dx + r * width
        var dot: Float = 0
        for j in 0..<width { dot += dyr[j] * yr[j] }
        for j in 0..<width { dxr[j] = yr[j] * (dyr[j] - dot) }
    }
}
