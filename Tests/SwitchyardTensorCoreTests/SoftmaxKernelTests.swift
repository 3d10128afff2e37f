import XCTest
@testable import SwitchyardTensorCore

/// Softmax, log-softmax, logSumExp and the softmax backward pass against Double references
/// and central finite differences.
final class SoftmaxKernelTests: XCTestCase {
    /// Softmax of one row in Double, max-shifted.
    func referenceSoftmax(_ row: [Double]) -> [Double] {
        let m = row.max()!
        let e = row.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// log Σ exp of one row in Double, max-shifted.
    func referenceLogSumExp(_ row: [Double]) -> Double {
        let m = row.max()!
        return m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
    }

    func rowsOf(_ x: [Float], width: Int) -> [[Double]] {
        stride(from: 0, to: x.count, by: width).map { doubles(Array(x[$0..<($0 + width)])) }
    }

    func testSoftmaxLogSoftmaxLogSumExpAgainstReference() {
        var rng = SeededRNG(seed: 300)
        for (rows, width) in kernelTestShapes {
            let x = randomFloats(rows * width, &rng, scale: 3)
            var y = [Float](repeating: .nan, count: rows * width)
            var ly = y
            var lse = [Float](repeating: .nan, count: rows)
            softmaxRows(x, into: &y, rows: rows, width: width)
            logSoftmaxRows(x, into: &ly, rows: rows, width: width)
            logSumExpRows(x, rows: rows, width: width, into: &lse)
            let refRows = rowsOf(x, width: width)
            assertClose(y, refRows.flatMap(referenceSoftmax), absolute: 1e-7, relative: 2e-6, "softmax \(rows)×\(width)")
            assertClose(lse, refRows.map(referenceLogSumExp), absolute: 2e-6, relative: 1e-6, "lse \(rows)×\(width)")
            let refLog = refRows.flatMap { row in row.map { $0 - referenceLogSumExp(row) } }
            assertClose(ly, refLog, absolute: 2e-6, relative: 1e-6, "logSoftmax \(rows)×\(width)")
            for r in 0..<rows {
                let total = (0..<width).reduce(0.0) { $0 + Double(y[r * width + $1]) }
                XCTAssertEqual(total, 1, accuracy: 1e-5)
            }
        }
    }

    func testLargeLogitsDoNotOverflow() {
        let x: [Float] = [1000, 999, 998, 10,
                          -1000, -1001, -1002, -2000,
                          88, 89, 90, 91,              // exp(91) overflows Float unshifted
                          3e38, 3e38, -3e38, 0]
        var y = [Float](repeating: 0, count: 16), ly = y, lse = [Float](repeating: 0, count: 4)
        softmaxRows(x, into: &y, rows: 4, width: 4)
        logSoftmaxRows(x, into: &ly, rows: 4, width: 4)
        logSumExpRows(x, rows: 4, width: 4, into: &lse)
        XCTAssert(y.allSatisfy(\.isFinite) && ly[0..<12].allSatisfy(\.isFinite) && lse.allSatisfy(\.isFinite),
                  "\(y) \(ly) \(lse)")
        let refRows = rowsOf(x, width: 4)
        assertClose(y, refRows.flatMap(referenceSoftmax), absolute: 1e-7, relative: 2e-6)
        assertClose(lse, refRows.map(referenceLogSumExp), absolute: 1e-4, relative: 1e-6)
        assertClose(Array(ly[0..<12]), refRows[0..<3].flatMap { row in row.map { $0 - referenceLogSumExp(row) } },
                    absolute: 1e-4, relative: 1e-6)
        XCTAssertEqual(y[8...11].reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(y[12], 0.5, accuracy: 1e-7)
        XCTAssertEqual(y[13], 0.5, accuracy: 1e-7)
    }

    func testInfiniteAndEmptyRows() {
        // −∞ entries get probability 0; a row of all −∞ has logSumExp −∞ and softmax NaN.
        let x: [Float] = [-.infinity, 0, -.infinity, 0,
                          -.infinity, -.infinity, -.infinity, -.infinity]
        var y = [Float](repeating: 0, count: 8), lse = [Float](repeating: 0, count: 2)
        softmaxRows(x, into: &y, rows: 2, width: 4)
        logSumExpRows(x, rows: 2, width: 4, into: &lse)
        XCTAssertEqual(Array(y[0..<4]), [0, 0.5, 0, 0.5])
        XCTAssert(y[4...].allSatisfy(\.isNaN))
        XCTAssertEqual(lse[0], logf(2), accuracy: 1e-7)
        XCTAssertEqual(lse[1], -.infinity)
        var empty = [Float](repeating: 0, count: 3)
        logSumExpRows([], rows: 3, width: 0, into: &empty)
        XCTAssertEqual(empty, [-.infinity, -.infinity, -.infinity])
    }

    func testInPlaceSoftmaxAndLogSoftmax() {
        var rng = SeededRNG(seed: 301)
        let rows = 3, width = 19
        let x0 = randomFloats(rows * width, &rng, scale: 2)
        let t = Tensor(shape: [rows, width], values: x0)
        softmaxRows(t.pointer, into: t.pointer, rows: rows, width: width)
        assertClose(t.array, rowsOf(x0, width: width).flatMap(referenceSoftmax), absolute: 1e-7, relative: 2e-6)
        let u = Tensor(shape: [rows, width], values: x0)
        logSoftmaxRows(u.pointer, into: u.pointer, rows: rows, width: width)
        let refLog = rowsOf(x0, width: width).flatMap { row in row.map { $0 - referenceLogSumExp(row) } }
        assertClose(u.array, refLog, absolute: 2e-6, relative: 1e-6)
    }

    func testSoftmaxBackwardAgainstFiniteDifferences() {
        var rng = SeededRNG(seed: 302)
        for (rows, width) in [(1, 1), (1, 5), (3, 4), (2, 9), (2, 17)] {
            let x = randomFloats(rows * width, &rng, scale: 1.5)
            let dy = randomFloats(rows * width, &rng)
            var y = [Float](repeating: 0, count: rows * width)
            softmaxRows(x, into: &y, rows: rows, width: width)
            var dx = [Float](repeating: .nan, count: rows * width)
            softmaxRowsBackward(output: y, dOutput: dy, dInput: &dx, rows: rows, width: width)
            // L(x) = Σ dy ⊙ softmax(x), row by row, in Double.
            let w = doubles(dy)
            let numeric = centralDifferenceGradient(doubles(x)) { xd in
                var loss = 0.0
                for r in 0..<rows {
                    let p = self.referenceSoftmax(Array(xd[(r * width)..<((r + 1) * width)]))
                    for j in 0..<width { loss += w[r * width + j] * p[j] }
                }
                return loss
            }
            assertClose(dx, numeric, absolute: 1e-5, relative: 1e-4, "\(rows)×\(width)")
        }
    }

    func testSoftmaxBackwardAnalyticOnWideRowsAndInPlace() {
        var rng = SeededRNG(seed: 303)
        for (rows, width) in kernelTestShapes {
            let x = randomFloats(rows * width, &rng)
            let dy = randomFloats(rows * width, &rng)
            var y = [Float](repeating: 0, count: rows * width)
            softmaxRows(x, into: &y, rows: rows, width: width)
            var expected = [Double](repeating: 0, count: rows * width)
            for r in 0..<rows {
                var dot = 0.0
                for j in 0..<width { dot += Double(dy[r * width + j]) * Double(y[r * width + j]) }
                for j in 0..<width {
                    expected[r * width + j] = Double(y[r * width + j]) * (Double(dy[r * width + j]) - dot)
                }
            }
            // dx aliasing dy.
            let g = Tensor(shape: [rows, width], values: dy)
            y.withUnsafeBufferPointer { yp in
                softmaxRowsBackward(output: yp.baseAddress!, dOutput: g.pointer, dInput: g.pointer,
                                    rows: rows, width: width)
            }
            assertClose(g.array, expected, absolute: 1e-6, relative: 1e-5, "\(rows)×\(width)")
        }
    }
}
