#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import SwitchyardTensorCore

/// GEMM against the obviously-correct triple loop, for every transpose combination.
final class GEMMTests: XCTestCase {
    func reference(_ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float,
                   a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k {
                    let av = ta == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = tb == .none ? b[p * ldb + j] : b[j * ldb + p]
                    s += av * bv
                }
                out[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
        return out
    }

    func testAllTransposesAndShapesAgainstTripleLoop() {
        var rng = SeededRNG(seed: 11)
        let shapes = [(1, 1, 1), (1, 5, 3), (4, 1, 7), (3, 5, 2), (17, 9, 33), (64, 48, 16)]
        for (m, n, k) in shapes {
            for ta in [Transpose.none, .transposed] {
                for tb in [Transpose.none, .transposed] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, -0.5)] {
                        let lda = ta == .none ? k : m, ldb = tb == .none ? n : k
                        var a = [Float](repeating: 0, count: (ta == .none ? m : k) * lda)
                        var b = [Float](repeating: 0, count: (tb == .none ? k : n) * ldb)
                        var c = [Float](repeating: 0, count: m * n)
                        for i in a.indices { a[i] = rng.nextGaussian() }
                        for i in b.indices { b[i] = rng.nextGaussian() }
                        for i in c.indices { c[i] = rng.nextGaussian() }
                        let expected = reference(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                                 b: b, ldb: ldb, beta: beta, c: c, ldc: n)
                        gemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                             beta: beta, c: &c, ldc: n)
                        for i in c.indices {
                            XCTAssertEqual(c[i], expected[i], accuracy: 1e-4 * Float(k + 1),
                                           "m\(m) n\(n) k\(k) \(ta) \(tb) alpha \(alpha) beta \(beta)")
                        }
                    }
                }
            }
        }
    }

    func testZeroInnerDimensionScalesByBeta() {
        var c: [Float] = [1, 2, 3, 4]
        gemm(.none, .none, m: 2, n: 2, k: 0, a: [], lda: 1, b: [], ldb: 2, beta: 0.5, c: &c, ldc: 2)
        XCTAssertEqual(c, [0.5, 1, 1.5, 2])
        gemm(.none, .none, m: 2, n: 2, k: 0, a: [], lda: 1, b: [], ldb: 2, beta: 0, c: &c, ldc: 2)
        XCTAssertEqual(c, [0, 0, 0, 0])
    }

    func testBatchedGEMMEqualsLoopOfGEMMs() {
        var rng = SeededRNG(seed: 12)
        let batch = 3, m = 4, n = 5, k = 6
        let a = Tensor(shape: [batch, m, k]), b = Tensor(shape: [batch, n, k])
        rng.fillGaussian(a.pointer, count: a.count)
        rng.fillGaussian(b.pointer, count: b.count)
        let c = Tensor(shape: [batch, m, n])
        batchedGEMM(.none, .transposed, batch: batch, m: m, n: n, k: k,
                    a: a.pointer, lda: k, strideA: m * k, b: b.pointer, ldb: k, strideB: n * k,
                    c: c.pointer, ldc: n, strideC: m * n)
        for i in 0..<batch {
            let ai = Array(a.buffer[(i * m * k)..<((i + 1) * m * k)])
            let bi = Array(b.buffer[(i * n * k)..<((i + 1) * n * k)])
            let expected = reference(.none, .transposed, m: m, n: n, k: k, alpha: 1, a: ai, lda: k,
                                     b: bi, ldb: k, beta: 0, c: [Float](repeating: 0, count: m * n), ldc: n)
            for j in 0..<(m * n) { XCTAssertEqual(c.pointer[i * m * n + j], expected[j], accuracy: 1e-4) }
        }
    }

    func testMatmulConvenience() {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], values: [1, 0, 0, 1, 1, 1])
        XCTAssertEqual(a.matmul(b).array, [4, 5, 10, 11])
        XCTAssertEqual(a.matmul(a, transposeOther: .transposed).array, [14, 32, 32, 77])
    }

    #if canImport(Glibc)
    /// GSL's libgsl depends on its own reference CBLAS, which also defines cblas_sgemm. The
    /// package links OpenBLAS directly and GSL's CBLAS only through libgsl, so OpenBLAS's
    /// symbol must win; this guards that (a slow reference GEMM would pass every other test).
    func testCBLASResolvesToOpenBLAS() throws {
        let symbol = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "cblas_sgemm"))
        // The mapped file holding the symbol's address (dladdr needs _GNU_SOURCE, which the
        // Glibc module does not expose).
        let address = UInt(bitPattern: symbol)
        // Read to end of file: procfs reports a size of 0, so size-based reads see nothing.
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps"))
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let library = maps.split(separator: "\n").first { line in
            let range = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            return range.count == 2 && range[0] <= address && address < range[1]
        }.map(String.init) ?? "(no mapping)"
        XCTAssertTrue(library.contains("openblas"), "cblas_sgemm comes from \(library)")
    }
    #endif
}
