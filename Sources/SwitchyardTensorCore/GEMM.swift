import COpenBLAS

/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    /// Use the matrix as stored.
    case none
    /// Use the transpose of the stored matrix.
    case transposed

    @inline(__always) var cblas: CBLAS_TRANSPOSE {
        self == .none ? CblasNoTrans : CblasTrans
    }
}

/// Single-precision general matrix multiply through OpenBLAS `cblas_sgemm`, row-major:
/// `C = alpha · op(A) · op(B) + beta · C`, with `op(A)` of size m × k and `op(B)` of
/// size k × n.
///
/// `lda`, `ldb` and `ldc` are the row strides of the matrices *as stored*: for
/// `transA == .none`, A is stored m × k and `lda ≥ k`; for `.transposed`, A is stored
/// k × m and `lda ≥ m`. `beta = 1` accumulates into C (how backward passes add
/// parameter gradients); `beta = 0` overwrites it (C need not be initialised).
///
/// ```swift
/// // y[n, out] = x[n, in] · W[out, in]ᵀ
/// gemm(.none, .transposed, m: n, n: out, k: in,
///      a: x, lda: in, b: w, ldb: in, c: y, ldc: out)
/// ```
@inline(__always)
public func gemm(
    _ transA: Transpose, _ transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    GEMMLog.noteIfRecording(transA, transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, beta: beta)
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C untouched for k = 0 only when beta = 1; make every beta exact.
        for i in 0..<m {
            let row = c + i * ldc
            for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
        }
        return
    }
    // Split large products over the compute threads: by rows of C when it has at least as
    // many rows as columns, else by columns; each part is one single-threaded sgemm. Parts
    // are multiples of 16 rows/columns (OpenBLAS's register blocking) except the last.
    let work = m * n * k
    if work >= gemmParallelThreshold {
        let byRows = m >= n
        let blocks = ((byRows ? m : n) + 15) / 16
        parallelParts(blocks, minimumPerPart: 2) { range, _ in
            let start = range.lowerBound * 16, end = min(range.upperBound * 16, byRows ? m : n)
            if byRows {
                let aPart = transA == .none ? a + start * lda : a + start
                sgemmCall(transA, transB, m: end - start, n: n, k: k, alpha: alpha, a: aPart, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c + start * ldc, ldc: ldc)
            } else {
                let bPart = transB == .none ? b + start : b + start * ldb
                sgemmCall(transA, transB, m: m, n: end - start, k: k, alpha: alpha, a: a, lda: lda,
                          b: bPart, ldb: ldb, beta: beta, c: c + start, ldc: ldc)
            }
        }
        return
    }
    sgemmCall(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              beta: beta, c: c, ldc: ldc)
}

/// One single-threaded row-major `cblas_sgemm` call (m, n, k > 0): the only place the
/// wrappers of this file call OpenBLAS.
@inline(__always)
func sgemmCall(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
               c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
                alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Products of at least this many multiply-adds (m·n·k) are split over the compute threads;
/// smaller ones run as one call, where the split would cost more than it saves.
public let gemmParallelThreshold = 1 << 18

/// A loop of `batch` independent GEMMs over equally strided operands:
/// for each i, `C_i = alpha · op(A_i) · op(B_i) + beta · C_i` with
/// `A_i = a + i·strideA`, `B_i = b + i·strideB`, `C_i = c + i·strideC`.
public func batchedGEMM(
    _ transA: Transpose, _ transB: Transpose,
    batch: Int, m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, strideA: Int,
    b: UnsafePointer<Float>, ldb: Int, strideB: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
) {
    for i in 0..<batch {
        gemm(transA, transB, m: m, n: n, k: k, alpha: alpha,
             a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
             beta: beta, c: c + i * strideC, ldc: ldc)
    }
}

extension Tensor {
    /// The matrix product of two rank-2 tensors, `op(self) · op(other)`, in a new tensor.
    public func matmul(_ other: Tensor, transposeSelf: Transpose = .none,
                       transposeOther: Transpose = .none) -> Tensor {
        precondition(rank == 2 && other.rank == 2, "matmul needs rank-2 tensors, got \(shape) and \(other.shape)")
        let (m, k) = transposeSelf == .none ? (shape[0], shape[1]) : (shape[1], shape[0])
        let (k2, n) = transposeOther == .none ? (other.shape[0], other.shape[1]) : (other.shape[1], other.shape[0])
        precondition(k == k2, "matmul: inner dimensions differ, \(shape) and \(other.shape)")
        let result = Tensor(shape: [m, n])
        gemm(transposeSelf, transposeOther, m: m, n: n, k: k,
             a: pointer, lda: shape[1], b: other.pointer, ldb: other.shape[1],
             c: result.pointer, ldc: n)
        return result
    }
}

/// The number of threads OpenBLAS itself uses inside one `sgemm` call. Switchyard keeps it at
/// one and splits GEMMs over ``ComputeThreads`` instead; the benchmarks raise it only to time
/// OpenBLAS's own threading as the reference.
public enum BLASThreads {
    /// Sets the OpenBLAS thread count. At one, OpenBLAS's own worker threads are stopped
    /// (`blas_thread_shutdown_`): OpenBLAS no longer hands them work, but (0.3.21) they keep
    /// polling for it with `sched_yield` for minutes, taking a share of a core from the compute
    /// threads on a two-core machine (measured: a fifth of the process's samples in
    /// `bench route --threads 1`, and half the wrapper's rate in `bench gemm` rounds that
    /// followed a direct, OpenBLAS-threaded round). Setting the count starts them again, so
    /// they are stopped on every call with one, not once. OpenBLAS restarts them when a count
    /// above one asks for them.
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(count))
        if count == 1 { _ = blas_thread_shutdown_() }
    }
    /// The OpenBLAS thread count now in force.
    public static var current: Int { Int(openblas_get_num_threads()) }
}

/// `c (m × n) += aᵀ · b` for row-major `a` (k × m, leading dimension `lda`) and `b` (k × n,
/// leading dimension `ldb`), for long k (a weight gradient summed over many rows: a router
/// gate's dW = dLogitsᵀ·x). The k rows are cut into fixed chunks of `chunkRows`; the compute
/// threads take contiguous runs of chunks, each chunk's product goes to its own slice of
/// `scratch` (grown to chunks · m · n), and the slices are added to `c` in chunk order — so
/// the result depends on k and `chunkRows`, not on the thread count. Unlike
/// ``gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` split by rows of C, no thread packs all
/// of `b`.
public func gemmTransposedAccumulatingInChunks(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                               b: UnsafePointer<Float>, ldb: Int,
                                               c: UnsafeMutablePointer<Float>, ldc: Int,
                                               chunkRows: Int = 8_192, scratch: inout [Float]) {
    if m == 0 || n == 0 || k == 0 { return }
    let chunks = (k + chunkRows - 1) / chunkRows
    if scratch.count < chunks * m * n { scratch = [Float](repeating: 0, count: chunks * m * n) }
    scratch.withUnsafeMutableBufferPointer { buffer in
        let s = buffer.baseAddress!
        parallelParts(chunks, minimumPerPart: 1) { part, _ in
            for q in part {
                let r0 = q * chunkRows, rows = min(k, r0 + chunkRows) - r0
                gemmOneCall(.transposed, .none, m: m, n: n, k: rows, a: a + r0 * lda, lda: lda,
                            b: b + r0 * ldb, ldb: ldb, c: s + q * m * n, ldc: n)
            }
        }
        for q in 0..<chunks {
            let slice = s + q * m * n
            for i in 0..<m { addInPlace(c + i * ldc, slice + i * n, count: n) }
        }
    }
}

/// ``gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` as one single-threaded `cblas_sgemm`
/// call, never split over the compute threads: for the small products a kernel runs inside
/// its own parallel parts (a router's backward, one chunk of rows per call). Recorded by
/// ``GEMMLog`` like every GEMM. k must be > 0.
@inline(__always)
public func gemmOneCall(
    _ transA: Transpose, _ transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    GEMMLog.noteIfRecording(transA, transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, beta: beta)
    if m == 0 || n == 0 || k == 0 { return }
    sgemmCall(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              beta: beta, c: c, ldc: ldc)
}
