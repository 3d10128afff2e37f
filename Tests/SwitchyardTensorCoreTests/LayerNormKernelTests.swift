import XCTest
@testable import SwitchyardTensorCore

/// Layer normalisation forward against a Double reference, backward against central
/// finite differences of that reference (input, γ and β), plus accumulation and aliasing.
final class LayerNormKernelTests: XCTestCase {
    let epsilon = 1e-5

    /// y = γ ⊙ (x − μ)/√(σ² + ε) + β per row, biased variance, in Double.
    func referenceForward(_ x: [Double], gamma: [Double], beta: [Double], rows: Int, width: Int)
        -> (out: [Double], mean: [Double], rstd: [Double]) {
        var out = [Double](repeating: 0, count: rows * width)
        var means = [Double](), rstds = [Double]()
        for r in 0..<rows {
            let row = x[(r * width)..<((r + 1) * width)]
            let mu = row.reduce(0, +) / Double(width)
            let variance = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(width)
            let s = 1 / (variance + epsilon).squareRoot()
            for j in 0..<width { out[r * width + j] = gamma[j] * (x[r * width + j] - mu) * s + beta[j] }
            means.append(mu)
            rstds.append(s)
        }
        return (out, means, rstds)
    }

    struct Case {
        var x: [Float], gamma: [Float], beta: [Float]
    }

    func makeCase(rows: Int, width: Int, _ rng: inout SeededRNG) -> Case {
        Case(x: randomFloats(rows * width, &rng, scale: 2, shift: 0.5),
             gamma: randomFloats(width, &rng, scale: 0.5, shift: 1),
             beta: randomFloats(width, &rng, scale: 0.5))
    }

    func testForwardAgainstReference() {
        var rng = SeededRNG(seed: 400)
        for (rows, width) in kernelTestShapes {
            let c = makeCase(rows: rows, width: width, &rng)
            var out = [Float](repeating: .nan, count: rows * width)
            var mean = [Float](repeating: .nan, count: rows), rstd = mean
            layerNormForward(c.x, gamma: c.gamma, beta: c.beta, into: &out, mean: &mean, rstd: &rstd,
                             rows: rows, width: width)
            let ref = referenceForward(doubles(c.x), gamma: doubles(c.gamma), beta: doubles(c.beta),
                                       rows: rows, width: width)
            assertClose(out, ref.out, absolute: 2e-5, relative: 1e-5, "out \(rows)×\(width)")
            assertClose(mean, ref.mean, absolute: 1e-6, relative: 1e-6, "mean \(rows)×\(width)")
            assertClose(rstd, ref.rstd, absolute: 0, relative: 2e-4, "rstd \(rows)×\(width)")
        }
    }

    func testForwardWithLargeOffsetAndInPlace() {
        // Rows with mean 1000 and spread 1: a one-pass E[x²] − E[x]² variance would lose it.
        var rng = SeededRNG(seed: 401)
        let rows = 3, width = 40
        let x = randomFloats(rows * width, &rng, shift: 1000)
        let gamma = [Float](repeating: 1, count: width), beta = [Float](repeating: 0, count: width)
        let t = Tensor(shape: [rows, width], values: x)
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        layerNormForward(t.pointer, gamma: gamma, beta: beta, into: t.pointer, mean: &mean, rstd: &rstd,
                         rows: rows, width: width)
        let ref = referenceForward(doubles(x), gamma: doubles(gamma), beta: doubles(beta), rows: rows, width: width)
        assertClose(t.array, ref.out, absolute: 1e-3)
        assertClose(rstd, ref.rstd, absolute: 0, relative: 1e-3)
    }

    func testBackwardAgainstFiniteDifferences() {
        var rng = SeededRNG(seed: 402)
        for (rows, width) in [(1, 1), (1, 4), (3, 5), (2, 9), (2, 17), (1, 33)] {
            let c = makeCase(rows: rows, width: width, &rng)
            let dy = randomFloats(rows * width, &rng)
            var out = [Float](repeating: 0, count: rows * width)
            var mean = [Float](repeating: 0, count: rows), rstd = mean
            layerNormForward(c.x, gamma: c.gamma, beta: c.beta, into: &out, mean: &mean, rstd: &rstd,
                             rows: rows, width: width)
            var dx = [Float](repeating: .nan, count: rows * width)
            var dGamma = [Float](repeating: 0, count: width), dBeta = dGamma
            layerNormBackward(dOutput: dy, input: c.x, gamma: c.gamma, mean: mean, rstd: rstd,
                              dInput: &dx, dGamma: &dGamma, dBeta: &dBeta, rows: rows, width: width)

            let xd = doubles(c.x), gd = doubles(c.gamma), bd = doubles(c.beta), w = doubles(dy)
            func loss(_ x: [Double], _ g: [Double], _ b: [Double]) -> Double {
                let y = referenceForward(x, gamma: g, beta: b, rows: rows, width: width).out
                return zip(y, w).reduce(0) { $0 + $1.0 * $1.1 }
            }
            let numericX = centralDifferenceGradient(xd) { loss($0, gd, bd) }
            let numericGamma = centralDifferenceGradient(gd) { loss(xd, $0, bd) }
            let numericBeta = centralDifferenceGradient(bd) { loss(xd, gd, $0) }
            assertClose(dx, numericX, absolute: 1e-4, relative: 1e-3, "dx \(rows)×\(width)")
            assertClose(dGamma, numericGamma, absolute: 1e-4, relative: 1e-3, "dGamma \(rows)×\(width)")
            assertClose(dBeta, numericBeta, absolute: 1e-4, relative: 1e-3, "dBeta \(rows)×\(width)")
        }
    }

    func testBackwardAccumulatesParameterGradientsAndAllowsInPlace() {
        var rng = SeededRNG(seed: 403)
        for (rows, width) in kernelTestShapes {
            let c = makeCase(rows: rows, width: width, &rng)
            let dy = randomFloats(rows * width, &rng)
            var out = [Float](repeating: 0, count: rows * width)
            var mean = [Float](repeating: 0, count: rows), rstd = mean
            layerNormForward(c.x, gamma: c.gamma, beta: c.beta, into: &out, mean: &mean, rstd: &rstd,
                             rows: rows, width: width)
            // Reference: fresh gradients into separate buffers.
            var dxRef = [Float](repeating: 0, count: rows * width)
            var dGammaRef = [Float](repeating: 0, count: width), dBetaRef = dGammaRef
            layerNormBackward(dOutput: dy, input: c.x, gamma: c.gamma, mean: mean, rstd: rstd,
                              dInput: &dxRef, dGamma: &dGammaRef, dBeta: &dBetaRef, rows: rows, width: width)
            // Same call with dInput aliasing dOutput and non-zero starting parameter gradients.
            let g = Tensor(shape: [rows, width], values: dy)
            let startGamma = randomFloats(width, &rng), startBeta = randomFloats(width, &rng)
            var dGamma = startGamma, dBeta = startBeta
            layerNormBackward(dOutput: g.pointer, input: c.x, gamma: c.gamma, mean: mean, rstd: rstd,
                              dInput: g.pointer, dGamma: &dGamma, dBeta: &dBeta, rows: rows, width: width)
            XCTAssertEqual(g.array, dxRef, "in-place dx \(rows)×\(width)")
            assertClose(dGamma, (0..<width).map { Double(startGamma[$0]) + Double(dGammaRef[$0]) },
                        absolute: 1e-6, relative: 1e-6, "dGamma accumulation")
            assertClose(dBeta, (0..<width).map { Double(startBeta[$0]) + Double(dBetaRef[$0]) },
                        absolute: 1e-6, relative: 1e-6, "dBeta accumulation")
        }
    }
}
