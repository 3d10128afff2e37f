import XCTest
@testable import SwitchyardTensorCore

/// GELU (tanh approximation) against the textbook formula in Double, and its backward pass
/// against central finite differences of that formula.
final class GELUKernelTests: XCTestCase {
    /// ½ x (1 + tanh(√(2/π)(x + 0.044715 x³))), written exactly as in Hendrycks & Gimpel.
    func referenceGELU(_ x: Double) -> Double {
        0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// Inputs covering the curve: a dense grid over [−12, 12] plus Gaussian draws.
    func inputs(_ rng: inout SeededRNG) -> [Float] {
        stride(from: -12.0, through: 12.0, by: 0.05).map { Float($0) } + randomFloats(101, &rng, scale: 2)
    }

    func testForwardAgainstTanhFormula() {
        var rng = SeededRNG(seed: 500)
        let x = inputs(&rng)
        var out = [Float](repeating: .nan, count: x.count)
        geluForward(x, into: &out, count: x.count)
        assertClose(out, x.map { referenceGELU(Double($0)) }, absolute: 1e-7, relative: 2e-6)
        // Known values of the tanh approximation.
        var few = [Float](repeating: 0, count: 3)
        geluForward([0, 1, -1], into: &few, count: 3)
        XCTAssertEqual(few[0], 0)
        XCTAssertEqual(few[1], 0.841192, accuracy: 1e-6)
        XCTAssertEqual(few[2], -0.158808, accuracy: 1e-6)
    }

    func testForwardExtremeInputsAndInPlace() {
        var out = [Float](repeating: .nan, count: 4)
        geluForward([1e13, -1e13, 60, -60], into: &out, count: 4)
        XCTAssertEqual(out[0], 1e13)
        XCTAssertEqual(out[1], 0)
        XCTAssertEqual(out[2], 60)
        XCTAssertEqual(out[3], 0)
        var rng = SeededRNG(seed: 501)
        let x = randomFloats(45, &rng, scale: 3)
        let t = Tensor(shape: [45], values: x)
        geluForward(t.pointer, into: t.pointer, count: 45)
        assertClose(t.array, x.map { referenceGELU(Double($0)) }, absolute: 1e-7, relative: 2e-6)
        geluForward([], into: &out, count: 0)
    }

    func testBackwardAgainstFiniteDifferences() {
        var rng = SeededRNG(seed: 502)
        let x = inputs(&rng)
        let dy = randomFloats(x.count, &rng)
        var dx = [Float](repeating: .nan, count: x.count)
        geluBackward(input: x, dOutput: dy, dInput: &dx, count: x.count)
        let h = 1e-6
        let expected = x.indices.map { i -> Double in
            let v = Double(x[i])
            return Double(dy[i]) * (referenceGELU(v + h) - referenceGELU(v - h)) / (2 * h)
        }
        assertClose(dx, expected, absolute: 1e-6, relative: 1e-5)
    }

    func testBackwardSaturatesWithoutNaNAndAllowsInPlace() {
        let x: [Float] = [1e13, -1e13, 15, -15, 1e30, -1e30]
        var dx = [Float](repeating: .nan, count: 6)
        geluBackward(input: x, dOutput: [Float](repeating: 2, count: 6), dInput: &dx, count: 6)
        XCTAssertEqual(dx[0], 2)
        XCTAssertEqual(dx[2], 2)
        XCTAssertEqual(dx[4], 2)
        for i in [1, 3, 5] { XCTAssertEqual(dx[i], 0, accuracy: 1e-30, "x = \(x[i])") }

        var rng = SeededRNG(seed: 503)
        let xs = randomFloats(37, &rng, scale: 2), dy = randomFloats(37, &rng)
        var separate = [Float](repeating: 0, count: 37)
        geluBackward(input: xs, dOutput: dy, dInput: &separate, count: 37)
        let g = Tensor(shape: [37], values: dy)
        geluBackward(input: xs, dOutput: g.pointer, dInput: g.pointer, count: 37)
        XCTAssertEqual(g.array, separate)
        XCTAssert(separate.allSatisfy(\.isFinite))
    }
}
