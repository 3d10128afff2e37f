import Synchronization

/// The shape of one call of ``gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``: what
/// `switchyard bench train` records of a training step to replay its GEMMs on their own.
public struct GEMMShape: Hashable, Codable, Sendable {
    /// Whether A is used transposed.
    public var transposeA: Bool
    /// Whether B is used transposed.
    public var transposeB: Bool
    /// Rows of op(A) and C.
    public var m: Int
    /// Columns of op(B) and C.
    public var n: Int
    /// Columns of op(A), rows of op(B).
    public var k: Int
    /// Row strides of A, B and C as stored.
    public var lda: Int, ldb: Int, ldc: Int
    /// 0 (overwrite C) or 1 (accumulate into C), or another scale.
    public var beta: Float

    /// A shape: op(A) m × k, op(B) k × n, C m × n, strides as stored.
    public init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int,
                beta: Float) {
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.m = m
        self.n = n
        self.k = k
        self.lda = lda
        self.ldb = ldb
        self.ldc = ldc
        self.beta = beta
    }

    /// 2·m·n·k: the floating-point operations of the product.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

    /// The floats A, B and C span as stored (the last row may be shorter than its stride).
    public var extents: (a: Int, b: Int, c: Int) {
        func span(rows: Int, columns: Int, stride: Int) -> Int { rows == 0 ? 0 : (rows - 1) * stride + columns }
        return (transposeA ? span(rows: k, columns: m, stride: lda) : span(rows: m, columns: k, stride: lda),
                transposeB ? span(rows: n, columns: k, stride: ldb) : span(rows: k, columns: n, stride: ldb),
                span(rows: m, columns: n, stride: ldc))
    }
}

/// Records the shapes of the GEMM calls made while a closure runs (from any thread), in the
/// order they were made (calls made on different threads at once are in the order they took
/// the log's lock).
///
/// ```swift
/// let shapes = GEMMLog.record { model.forward(...); model.backward() }
/// print(shapes.reduce(0) { $0 + $1.flops })
/// ```
public enum GEMMLog {
    static let isRecording = Atomic<Bool>(false)
    static let shapes = Mutex<[GEMMShape]>([])

    /// Runs `body` and returns the GEMM shapes it called. Not reentrant.
    public static func record(_ body: () throws -> Void) rethrows -> [GEMMShape] {
        shapes.withLock { $0.removeAll() }
        isRecording.store(true, ordering: .releasing)
        defer { isRecording.store(false, ordering: .releasing) }
        try body()
        return shapes.withLock { $0 }
    }

    @inline(__always)
    static func noteIfRecording(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                                lda: Int, ldb: Int, ldc: Int, beta: Float) {
        guard isRecording.load(ordering: .relaxed) else { return }
        let shape = GEMMShape(transposeA: transA == .transposed, transposeB: transB == .transposed,
                              m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, beta: beta)
        shapes.withLock { $0.append(shape) }
    }
}
