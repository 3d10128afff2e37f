// Elementwise kernels over contiguous Float runs (llm.c style: pointers and explicit
// sizes, no allocation). The plain loops below are vectorised by the compiler, which
// inserts run-time overlap checks where an output may alias an input. The kernels a
// training step runs on whole activations (add, addInPlace, addRowBias, scaleRows,
// accumulateColumnSums) split their range over ``ComputeThreads``; each element (each
// column, for the column sums) is computed by one thread in the serial order, so the result
// does not depend on the thread count.

/// Elements per part below which an element-wise loop is not worth splitting.
let elementwiseMinimumPerPart = 16_384

/// `out[i] = a[i] + b[i]` for `i` in `0..<count`. `out` may be `a` or `b` (in place).
public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                into out: UnsafeMutablePointer<Float>, count: Int) {
    parallelParts(count, minimumPerPart: elementwiseMinimumPerPart) { part, _ in
        for i in part { out[i] = a[i] + b[i] }
    }
}

/// `x[i] += y[i]` for `i` in `0..<count`.
public func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    parallelParts(count, minimumPerPart: elementwiseMinimumPerPart) { part, _ in
        for i in part { x[i] += y[i] }
    }
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
    parallelParts(rows, minimumPerPart: max(1, elementwiseMinimumPerPart / max(1, width))) { part, _ in
        for r in part {
            let row = x + r * width
            for j in 0..<width { row[j] += bias[j] }
        }
    }
}

/// `x[r, :] *= weights[r]` for each row of the row-major `rows × width` matrix `x`.
public func scaleRows(_ x: UnsafeMutablePointer<Float>, by weights: UnsafePointer<Float>, rows: Int, width: Int) {
    parallelParts(rows, minimumPerPart: max(1, elementwiseMinimumPerPart / max(1, width))) { part, _ in
        for r in part {
            let row = x + r * width, w = weights[r]
            for j in 0..<width { row[j] *= w }
        }
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
    let minimumColumns = rows * width >= 2 * elementwiseMinimumPerPart ? 8 : max(1, width)
    parallelParts(width, minimumPerPart: minimumColumns) { columns, _ in
        let c0 = columns.lowerBound, n = columns.count
        let out = sums + c0
        var r = 0
        while r + 4 <= rows {
            let r0 = x + r * width + c0, r1 = r0 + width, r2 = r1 + width, r3 = r2 + width
            for j in 0..<n { out[j] += (r0[j] + r1[j]) + (r2[j] + r3[j]) }
            r += 4
        }
        while r < rows {
            let row = x + r * width + c0
            for j in 0..<n { out[j] += row[j] }
            r += 1
        }
    }
}
