import XCTest
@testable import SwitchyardTensorCore

/// Shapes (rows, width) every row-wise kernel is tried on: 1×1, 1×n, n×1, non-square, and
/// widths that exercise the SIMD main loops (multiples of 8, 16, 32) and their scalar tails.
let kernelTestShapes: [(rows: Int, width: Int)] = [
    (1, 1), (1, 7), (7, 1), (3, 5), (5, 3), (2, 8), (4, 16), (3, 17), (2, 33), (3, 64), (2, 101),
]

/// `count` standard-normal draws scaled by `scale` and shifted by `shift`.
func randomFloats(_ count: Int, _ rng: inout SeededRNG, scale: Float = 1, shift: Float = 0) -> [Float] {
    (0..<count).map { _ in shift + scale * rng.nextGaussian() }
}

/// Asserts `|actual[i] − expected[i]| ≤ absolute + relative·|expected[i]|` for every i, and
/// that the lengths agree. NaN expected values require NaN actual values.
func assertClose(_ actual: [Float], _ expected: [Double], absolute: Double, relative: Double = 0,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "length " + message(), file: file, line: line)
    for i in 0..<min(actual.count, expected.count) {
        let a = Double(actual[i]), e = expected[i]
        if e.isNaN {
            XCTAssert(a.isNaN, "element \(i): expected NaN, got \(a) \(message())", file: file, line: line)
            continue
        }
        if e.isInfinite {
            XCTAssertEqual(a, e, "element \(i) \(message())", file: file, line: line)
            continue
        }
        let tolerance = absolute + relative * abs(e)
        if !(abs(a - e) <= tolerance) {
            XCTFail("element \(i): got \(a), expected \(e) (tolerance \(tolerance)) \(message())",
                    file: file, line: line)
            return
        }
    }
}

/// One scalar version of `assertClose`.
func assertClose(_ actual: Float, _ expected: Double, absolute: Double, relative: Double = 0,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose([actual], [expected], absolute: absolute, relative: relative, message(), file: file, line: line)
}

/// The central finite-difference gradient of a Double function at `x`, step `h`.
func centralDifferenceGradient(_ x: [Double], h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
    var gradient = [Double](repeating: 0, count: x.count)
    var probe = x
    for i in x.indices {
        probe[i] = x[i] + h
        let up = f(probe)
        probe[i] = x[i] - h
        let down = f(probe)
        probe[i] = x[i]
        gradient[i] = (up - down) / (2 * h)
    }
    return gradient
}

/// Converts Floats to Doubles.
func doubles(_ x: [Float]) -> [Double] { x.map(Double.init) }
