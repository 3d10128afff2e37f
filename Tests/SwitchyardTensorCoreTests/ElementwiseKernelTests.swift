import XCTest
@testable import SwitchyardTensorCore

/// Elementwise kernels against one-line loops in Double.
final class ElementwiseKernelTests: XCTestCase {
    let counts = [0, 1, 7, 8, 31, 33, 100]

    func testAddMultiplyAxpyScaleAgainstNaiveLoops() {
        var rng = SeededRNG(seed: 100)
        for n in counts {
            let a = randomFloats(n, &rng), b = randomFloats(n, &rng)
            let da = doubles(a), db = doubles(b)
            var out = [Float](repeating: .nan, count: n)
            add(a, b, into: &out, count: n)
            assertClose(out, (0..<n).map { da[$0] + db[$0] }, absolute: 0, relative: 1e-7, "add n=\(n)")
            multiply(a, b, into: &out, count: n)
            assertClose(out, (0..<n).map { da[$0] * db[$0] }, absolute: 0, relative: 1e-7, "multiply n=\(n)")

            var x = a
            addInPlace(&x, b, count: n)
            assertClose(x, (0..<n).map { da[$0] + db[$0] }, absolute: 0, relative: 1e-7, "addInPlace n=\(n)")

            var y = b
            axpy(-2.5, a, &y, count: n)
            assertClose(y, (0..<n).map { db[$0] - 2.5 * da[$0] }, absolute: 1e-6, relative: 1e-6, "axpy n=\(n)")

            var z = a
            scale(&z, by: 0.75, count: n)
            assertClose(z, (0..<n).map { 0.75 * da[$0] }, absolute: 0, relative: 1e-7, "scale n=\(n)")
        }
    }

    func testAddAndMultiplyInPlaceAliasing() {
        var rng = SeededRNG(seed: 101)
        let n = 37
        let a = Tensor(shape: [n], values: randomFloats(n, &rng))
        let b = Tensor(shape: [n], values: randomFloats(n, &rng))
        let a0 = doubles(a.array), b0 = doubles(b.array)

        add(a.pointer, b.pointer, into: a.pointer, count: n)              // out == a
        assertClose(a.array, (0..<n).map { a0[$0] + b0[$0] }, absolute: 0, relative: 1e-7)
        a.assign(Tensor(shape: [n], values: a0.map(Float.init)))
        add(a.pointer, b.pointer, into: b.pointer, count: n)              // out == b
        assertClose(b.array, (0..<n).map { a0[$0] + b0[$0] }, absolute: 0, relative: 1e-7)

        b.assign(Tensor(shape: [n], values: b0.map(Float.init)))
        multiply(a.pointer, b.pointer, into: b.pointer, count: n)
        assertClose(b.array, (0..<n).map { a0[$0] * b0[$0] }, absolute: 0, relative: 1e-7)
        multiply(a.pointer, a.pointer, into: a.pointer, count: n)         // squares in place
        assertClose(a.array, (0..<n).map { a0[$0] * a0[$0] }, absolute: 0, relative: 1e-7)
    }

    func testAddRowBias() {
        var rng = SeededRNG(seed: 102)
        for (rows, width) in kernelTestShapes + [(0, 4), (3, 0)] {
            let x0 = randomFloats(rows * width, &rng), bias = randomFloats(width, &rng)
            var x = x0
            addRowBias(&x, bias: bias, rows: rows, width: width)
            let expected = (0..<(rows * width)).map { Double(x0[$0]) + Double(bias[$0 % width]) }
            assertClose(x, expected, absolute: 0, relative: 1e-7, "\(rows)×\(width)")
        }
    }

    func testAccumulateColumnSumsAddsToExistingSums() {
        var rng = SeededRNG(seed: 103)
        for (rows, width) in kernelTestShapes + [(0, 3), (4, 5), (9, 6), (3, 0)] {
            let x = randomFloats(rows * width, &rng)
            let initial = randomFloats(width, &rng)
            var sums = initial
            accumulateColumnSums(x, rows: rows, width: width, into: &sums)
            var expected = doubles(initial)
            for r in 0..<rows { for j in 0..<width { expected[j] += Double(x[r * width + j]) } }
            assertClose(sums, expected, absolute: 1e-6, relative: 1e-6, "\(rows)×\(width)")
        }
    }
}
