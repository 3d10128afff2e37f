import XCTest
@testable import SwitchyardTensorCore

/// gemmTransposedAccumulatingInChunks: c += aᵀ·b within rounding of a Double reference, and
/// the same bits for 1, 2 and 3 threads.
final class ChunkedGEMMTests: XCTestCase {
    override func tearDown() {
        ComputeThreads.count = 1
        super.tearDown()
    }

    func testMatchesReferenceAndIsThreadInvariant() {
        var rng = SeededRNG(seed: 950)
        for (m, n, k, chunk) in [(3, 5, 1, 4), (16, 64, 1_000, 128), (33, 9, 5_000, 700), (128, 64, 20_000, 8_192)] {
            let a = randomFloats(k * m, &rng), b = randomFloats(k * n, &rng), c0 = randomFloats(m * n, &rng)
            var expected = [Double](repeating: 0, count: m * n)
            for i in 0..<m {
                for j in 0..<n {
                    var s = Double(c0[i * n + j])
                    for r in 0..<k { s += Double(a[r * m + i]) * Double(b[r * n + j]) }
                    expected[i * n + j] = s
                }
            }
            var first: [Float]?
            for threads in [1, 2, 3] {
                ComputeThreads.count = threads
                var c = c0, scratch: [Float] = []
                gemmTransposedAccumulatingInChunks(m: m, n: n, k: k, a: a, lda: m, b: b, ldb: n, c: &c, ldc: n,
                                                   chunkRows: chunk, scratch: &scratch)
                for i in 0..<(m * n) {
                    XCTAssertEqual(Double(c[i]), expected[i], accuracy: 1e-4 * Double(k).squareRoot() + 1e-5, "\(m)×\(n)×\(k)")
                }
                if let first { XCTAssertEqual(c.map(\.bitPattern), first.map(\.bitPattern), "\(m)×\(n)×\(k), \(threads) threads") }
                first = c
            }
        }
    }
}
