// Elementwise kernels over contiguous Float runs (llm.c style: pointers and explicit
// sizes, no allocation). The plain loops below are vectorised by the compiler, which
// inserts run-time overlap checks where an output may alias an input.

/// `out[i] = a[i] + b[i]` for `i` in `0..<count`. `out` may be `a` or `b` (in place).
public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                into out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = a[i] + b[i] }
}

/// `x[i] += y[i]` for `i` in `0..<count`.
public func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { x[i] += y[i] }
}

/// `y[i] += alpha · x[i]` for `i` in `0..<count` (BLAS `saxpy`).
public func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] += alpha * x[i] }
}

/// `x[i] *= alpha` for `i` in `0..<count`. Unlike BLAS `sscal`, `alpha = 0` keeps NaN and
/// infinities visible (they become NaN) rather than writing zeros.
public func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
    for i in 0..<count { x[i] *= alpha }
}

/// `out[i] = a[i] · b[i]` for `i` in `0..<count`. `out` may be `a` or `b` (in place).
public func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                     into out: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = a[i] * b[i] }
}

/// Adds `bias` (length `width`) to every row of the row-major `rows × width` matrix `x`:
/// `x[r, j] += bias[j]`.
public func addRowBias(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int) {
    for r in 0..<rows {
        let row = x + r * width
        for j in 0..<width { row[j] += bias[j] }
    }
}

/// Accumulates the column sums of the row-major `rows × width` matrix `x` into `sums`
/// (length `width`): `sums[j] += Σ_r x[r, j]`. This is the gradient of a row bias, so it
/// *adds* to `sums` like every parameter-gradient kernel.
///
/// Rows are taken four at a time and added pairwise before touching `sums`, which halves
/// the memory traffic on `sums` and the rounding error of a row-by-row accumulation.
public func accumulateColumnSums(_ x: UnsafePointer<Float>, rows: Int, width: Int,
                                 into sums: UnsafeMutablePointer<Float>) {
    var r = 0
    while r + 4 <= rows {
        let r0 = x + r * width, r1 = r0 + width, r2 = r1 + width, r3 = r2 + width
        for j in 0..<width { sums[j] += (r0[j] + r1[j]) + (r2[j] + r3[j]) }
        r += 4
    }
    while r < rows {
        let row = x + r * width
        for j in 0..<width { sums[j] += row[j] }
        r += 1
    }
}
