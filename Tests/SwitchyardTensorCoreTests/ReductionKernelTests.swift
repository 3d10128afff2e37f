import XCTest
@testable import SwitchyardTensorCore

/// Reductions against Double loops; NaN, empty and tie behaviour.
final class ReductionKernelTests: XCTestCase {
    let counts = [0, 1, 7, 8, 15, 16, 31, 32, 33, 100, 1024, 1025, 9000]

    func testSumMeanSumOfSquaresAgainstDoubleLoops() {
        var rng = SeededRNG(seed: 200)
        for n in counts {
            let x = randomFloats(n, &rng, shift: 0.3)
            let s = x.reduce(0.0) { $0 + Double($1) }
            let ss = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            let scale = x.reduce(0.0) { $0 + abs(Double($1)) }   // error scales with Σ|x|
            assertClose(sum(x, count: n), s, absolute: 1e-6 * scale + 1e-7, "sum n=\(n)")
            assertClose(sumOfSquares(x, count: n), ss, absolute: 0, relative: 1e-6, "sumOfSquares n=\(n)")
            if n > 0 {
                assertClose(mean(x, count: n), s / Double(n), absolute: 1e-6 * scale / Double(n) + 1e-7,
                            "mean n=\(n)")
            }
        }
        XCTAssertEqual(sum([], count: 0), 0)
        XCTAssertEqual(sumOfSquares([], count: 0), 0)
        XCTAssert(mean([], count: 0).isNaN)
    }

    func testLongSumStaysAccurate() {
        // 100 000 copies of 0.1: a serial Float loop drifts by about 1e-4 relative (checked
        // below, so this test can tell the two apart); the blocked SIMD sum stays near 1e-7.
        let n = 100_000
        let x = [Float](repeating: 0.1, count: n)
        let exact = Double(Float(0.1)) * Double(n)
        var serial: Float = 0
        for v in x { serial += v }
        XCTAssertGreaterThan(abs(Double(serial) - exact) / exact, 1e-5)
        assertClose(sum(x, count: n), exact, absolute: 0, relative: 1e-6)
        assertClose(mean(x, count: n), Double(Float(0.1)), absolute: 0, relative: 1e-6)
        assertClose(sumOfSquares(x, count: n), Double(Float(0.1)) * Double(Float(0.1)) * Double(n),
                    absolute: 0, relative: 1e-6)
    }

    func testMaximumIncludingEmptyNegativeAndNaN() {
        var rng = SeededRNG(seed: 201)
        for n in counts where n > 0 {
            let x = randomFloats(n, &rng, shift: -50)
            XCTAssertEqual(maximum(x, count: n), x.max()!, "n=\(n)")
        }
        XCTAssertEqual(maximum([], count: 0), -.infinity)
        XCTAssertEqual(maximum([-.infinity, -.infinity], count: 2), -.infinity)
        // NaN anywhere (in the SIMD body or the scalar tail) propagates.
        for n in [1, 5, 16, 40] {
            for position in [0, n / 2, n - 1] {
                var x = randomFloats(n, &rng)
                x[position] = .nan
                XCTAssert(maximum(x, count: n).isNaN, "n=\(n) NaN at \(position)")
            }
        }
        // The largest element at each position of a 40-element run.
        for position in 0..<40 {
            var x = [Float](repeating: -1, count: 40)
            x[position] = 3
            XCTAssertEqual(maximum(x, count: 40), 3, "max at \(position)")
        }
    }

    func testArgmaxRowsAgainstFirstMaximumScan() {
        var rng = SeededRNG(seed: 202)
        for (rows, width) in kernelTestShapes + [(0, 5)] {
            // Small integer values make ties common.
            let x = (0..<(rows * width)).map { _ in Float(rng.nextInt(below: 4)) }
            var indices = [Int32](repeating: -7, count: rows)
            argmaxRows(x, rows: rows, width: width, into: &indices)
            for r in 0..<rows {
                var best = 0
                for j in 1..<width where x[r * width + j] > x[r * width + best] { best = j }
                XCTAssertEqual(indices[r], Int32(best), "row \(r) of \(rows)×\(width)")
            }
        }
    }

    func testArgmaxRowsTiesNaNAndEmptyRows() {
        let x: [Float] = [1, 5, 5, 2,
                          -3, -3, -3, -3,
                          0, .nan, 9, .nan,
                          7, 1, 2, 7]
        var indices = [Int32](repeating: 0, count: 4)
        argmaxRows(x, rows: 4, width: 4, into: &indices)
        XCTAssertEqual(indices, [1, 0, 1, 0])
        var empty = [Int32](repeating: 0, count: 3)
        argmaxRows([], rows: 3, width: 0, into: &empty)
        XCTAssertEqual(empty, [-1, -1, -1])
    }

    func testTensorConveniences() {
        let t = Tensor(shape: [2, 3], values: [1, -2, 3, 4, 4, -6])
        XCTAssertEqual(t.sum(), 4)
        XCTAssertEqual(t.mean(), 4.0 / 6.0, accuracy: 1e-7)
        XCTAssertEqual(t.maximum(), 4)
        XCTAssertEqual(t.sumOfSquares(), 1 + 4 + 9 + 16 + 16 + 36)
        XCTAssertEqual(t.argmaxRows(), [2, 0])
        XCTAssertEqual(Tensor(shape: [2, 2, 2], values: [0, 1, 1, 0, 2, 2, 3, 4]).argmaxRows(), [1, 0, 0, 1])
        XCTAssertEqual(Tensor(shape: [0, 3]).sum(), 0)
        XCTAssertEqual(Tensor(shape: [0]).maximum(), -.infinity)
    }
}
