import Foundation
import XCTest
@testable import TensorCore

/// Every kernel against a plain reference written for clarity, in Double where it matters.
final class KernelTests: XCTestCase {
    var rng = SeededRNG(seed: 2024)

    func random(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in scale * rng.nextGaussian() }
    }

    let shapes = [(1, 1), (1, 7), (7, 1), (3, 5), (16, 9)]

    func testElementwiseAndBias() {
        for (rows, width) in shapes {
            let n = rows * width
            let a = random(n), b = random(n), bias = random(width)
            var out = [Float](repeating: 0, count: n)
            add(a, b, into: &out, count: n)
            XCTAssertEqual(out, zip(a, b).map(+))
            multiply(a, b, into: &out, count: n)
            XCTAssertEqual(out, zip(a, b).map(*))
            var y = b
            axpy(0.5, a, &y, count: n)
            for i in 0..<n { XCTAssertEqual(y[i], b[i] + 0.5 * a[i], accuracy: 1e-6) }
            var x = a
            addInPlace(&x, b, count: n)
            XCTAssertEqual(x, zip(a, b).map(+))
            scale(&x, by: 2, count: n)
            for i in 0..<n { XCTAssertEqual(x[i], 2 * (a[i] + b[i]), accuracy: 1e-6) }
            var biased = a
            addRowBias(&biased, bias: bias, rows: rows, width: width)
            var sums = [Float](repeating: 1, count: width)
            accumulateColumnSums(a, rows: rows, width: width, into: &sums)
            for r in 0..<rows {
                for j in 0..<width { XCTAssertEqual(biased[r * width + j], a[r * width + j] + bias[j]) }
            }
            for j in 0..<width {
                let expected = 1 + (0..<rows).reduce(0.0) { $0 + Double(a[$1 * width + j]) }
                XCTAssertEqual(Double(sums[j]), expected, accuracy: 1e-5)
            }
        }
    }

    func testReductionsAndArgmax() {
        let x: [Float] = [3, -1, 7, 7, 2, 0]
        XCTAssertEqual(sum(x, count: 6), 18)
        XCTAssertEqual(mean(x, count: 6), 3)
        XCTAssertEqual(maximum(x, count: 6), 7)
        XCTAssertEqual(maximum(x, count: 0), -.infinity)
        XCTAssertEqual(mean(x, count: 0), 0)
        XCTAssertEqual(sumOfSquares(x, count: 6), 9 + 1 + 49 + 49 + 4)
        var idx = [Int32](repeating: -1, count: 2)
        argmaxRows(x, rows: 2, width: 3, into: &idx)
        XCTAssertEqual(idx, [2, 0])             // row 2 = [7, 2, 0]
        argmaxRows([1, 5, 5, 2], rows: 1, width: 4, into: &idx)
        XCTAssertEqual(idx[0], 1)               // tie: lowest column
        var dots = [Float](repeating: 0, count: 2)
        rowDots([1, 2, 3, 4], [5, 6, 7, 8], rows: 2, width: 2, into: &dots)
        XCTAssertEqual(dots, [17, 53])
    }

    func testSoftmaxLogSoftmaxLogSumExp() {
        for (rows, width) in shapes {
            let x = random(rows * width, scale: 3)
            var y = [Float](repeating: 0, count: x.count), ly = y, lse = [Float](repeating: 0, count: rows)
            softmaxRows(x, into: &y, rows: rows, width: width)
            logSoftmaxRows(x, into: &ly, rows: rows, width: width)
            logSumExpRows(x, rows: rows, width: width, into: &lse)
            for r in 0..<rows {
                let row = (0..<width).map { Double(x[r * width + $0]) }
                let z = row.map { exp($0) }.reduce(0, +)
                XCTAssertEqual(Double(lse[r]), log(z), accuracy: 1e-5)
                for j in 0..<width {
                    XCTAssertEqual(Double(y[r * width + j]), exp(row[j]) / z, accuracy: 1e-6)
                    XCTAssertEqual(Double(ly[r * width + j]), row[j] - log(z), accuracy: 1e-5)
                }
            }
        }
        // Large logits: no overflow, in place.
        var big: [Float] = [1000, 1001, 999]
        big.withUnsafeMutableBufferPointer { softmaxRows($0.baseAddress!, into: $0.baseAddress!, rows: 1, width: 3) }
        XCTAssertEqual(Double(big[1]), 1 / (1 + exp(-1) + exp(-2)), accuracy: 1e-6)
        XCTAssertTrue(big.allSatisfy { $0.isFinite })
    }

    /// Central finite differences of L = Σ c ⊙ f(x) in Double against an analytic dx.
    func checkGradient(count: Int, tolerance: Double, forward: ([Float]) -> [Float],
                       analytic: (_ x: [Float], _ c: [Float]) -> [Float], x: [Float]) {
        let c = random(forward(x).count)
        let dx = analytic(x, c)
        let h: Float = 1e-2
        for i in 0..<count {
            var xp = x, xm = x
            xp[i] += h; xm[i] -= h
            let lp = zip(forward(xp), c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let lm = zip(forward(xm), c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let numeric = (lp - lm) / (2 * Double(h))
            XCTAssertEqual(Double(dx[i]), numeric, accuracy: tolerance * max(1, abs(numeric)), "coordinate \(i)")
        }
    }

    func testSoftmaxBackwardMatchesFiniteDifferences() {
        let rows = 3, width = 4
        let x = random(rows * width)
        checkGradient(count: x.count, tolerance: 2e-3, forward: { x in
            var y = [Float](repeating: 0, count: x.count)
            softmaxRows(x, into: &y, rows: rows, width: width)
            return y
        }, analytic: { x, c in
            var y = [Float](repeating: 0, count: x.count), dx = y
            softmaxRows(x, into: &y, rows: rows, width: width)
            softmaxRowsBackward(output: y, dOutput: c, dInput: &dx, rows: rows, width: width)
            return dx
        }, x: x)
    }

    func testLayerNormForwardAndBackward() {
        for (rows, width) in [(1, 2), (3, 5), (4, 8)] {
            let x = random(rows * width, scale: 2), gamma = random(width), beta = random(width)
            var y = [Float](repeating: 0, count: x.count)
            var m = [Float](repeating: 0, count: rows), s = m
            layerNormForward(x, gamma: gamma, beta: beta, into: &y, mean: &m, rstd: &s, rows: rows, width: width)
            for r in 0..<rows {
                let row = (0..<width).map { Double(x[r * width + $0]) }
                let mu = row.reduce(0, +) / Double(width)
                let variance = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(width)
                for j in 0..<width {
                    let expected = (row[j] - mu) / (variance + 1e-5).squareRoot() * Double(gamma[j]) + Double(beta[j])
                    XCTAssertEqual(Double(y[r * width + j]), expected, accuracy: 1e-4)
                }
            }
            func forward(_ x: [Float]) -> [Float] {
                var y = [Float](repeating: 0, count: x.count), m = [Float](repeating: 0, count: rows), s = m
                layerNormForward(x, gamma: gamma, beta: beta, into: &y, mean: &m, rstd: &s, rows: rows, width: width)
                return y
            }
            checkGradient(count: x.count, tolerance: 5e-3, forward: forward, analytic: { x, c in
                var y = [Float](repeating: 0, count: x.count), m = [Float](repeating: 0, count: rows), s = m
                layerNormForward(x, gamma: gamma, beta: beta, into: &y, mean: &m, rstd: &s, rows: rows, width: width)
                var dx = [Float](repeating: 0, count: x.count)
                var dg = [Float](repeating: 0, count: width), db = dg
                layerNormBackward(dOutput: c, input: x, gamma: gamma, mean: m, rstd: s, dInput: &dx,
                                  dGamma: &dg, dBeta: &db, rows: rows, width: width)
                // dβ = Σ_rows c; dγ = Σ_rows c ⊙ x̂ (checked here as well).
                for j in 0..<width {
                    let expectedBeta = (0..<rows).reduce(0.0) { $0 + Double(c[$1 * width + j]) }
                    XCTAssertEqual(Double(db[j]), expectedBeta, accuracy: 1e-4)
                    let expectedGamma = (0..<rows).reduce(0.0) { acc, r in
                        acc + Double(c[r * width + j]) * Double((x[r * width + j] - m[r]) * s[r])
                    }
                    XCTAssertEqual(Double(dg[j]), expectedGamma, accuracy: 1e-4)
                }
                return dx
            }, x: x)
        }
    }

    func testGELUValuesAndBackward() {
        // Reference values of the tanh form.
        let x: [Float] = [-3, -1, 0, 0.5, 2]
        var y = [Float](repeating: 0, count: 5)
        geluForward(x, into: &y, count: 5)
        for i in 0..<5 {
            let v = Double(x[i])
            let u: Double = (2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)
            let expected: Double = 0.5 * v * (1 + tanh(u))
            XCTAssertEqual(Double(y[i]), expected, accuracy: 1e-6)
        }
        XCTAssertEqual(y[2], 0)
        // Far tails: no overflow to NaN.
        var tails = [Float](repeating: 0, count: 2), dTails = tails
        geluForward([-60, 60], into: &tails, count: 2)
        geluBackward(input: [-60, 60], dOutput: [1, 1], dInput: &dTails, count: 2)
        XCTAssertEqual(tails[0], 0)
        XCTAssertEqual(tails[1], 60)
        XCTAssertEqual(dTails, [0, 1])
        let xs = random(12, scale: 2)
        checkGradient(count: xs.count, tolerance: 2e-3, forward: { x in
            var y = [Float](repeating: 0, count: x.count)
            geluForward(x, into: &y, count: x.count)
            return y
        }, analytic: { x, c in
            var dx = [Float](repeating: 0, count: x.count)
            geluBackward(input: x, dOutput: c, dInput: &dx, count: x.count)
            return dx
        }, x: xs)
    }

    func referenceTopK(_ column: [Float], k: Int) -> [(Float, Int32)] {
        let pairs: [(Float, Int32)] = column.enumerated().map { ($0.element, Int32($0.offset)) }
        let sorted = pairs.sorted { (a: (Float, Int32), b: (Float, Int32)) -> Bool in
            a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
        }
        return Array(sorted.prefix(k))
    }

    func testTopKRowsAndColumnsAgainstSorting() {
        for (rows, width) in [(1, 1), (5, 1), (1, 6), (9, 4), (40, 7)] {
            // Quantised values so that ties occur.
            let x = random(rows * width).map { ($0 * 2).rounded() }
            for k in Set([0, 1, width / 2, width]) {
                var v = [Float](repeating: 0, count: rows * k), ix = [Int32](repeating: 0, count: rows * k)
                topKRows(x, rows: rows, width: width, k: k, values: &v, indices: &ix)
                for r in 0..<rows {
                    let expected = referenceTopK(Array(x[(r * width)..<((r + 1) * width)]), k: k)
                    XCTAssertEqual(Array(v[(r * k)..<((r + 1) * k)]), expected.map(\.0))
                    XCTAssertEqual(Array(ix[(r * k)..<((r + 1) * k)]), expected.map(\.1))
                }
            }
            for k in Set([0, 1, rows / 3, rows]) {
                var v = [Float](repeating: 0, count: width * k), ix = [Int32](repeating: 0, count: width * k)
                topKColumns(x, rows: rows, width: width, k: k, values: &v, indices: &ix)
                for j in 0..<width {
                    let column = (0..<rows).map { x[$0 * width + j] }
                    let expected = referenceTopK(column, k: k)
                    XCTAssertEqual(Array(v[(j * k)..<((j + 1) * k)]), expected.map(\.0), "k \(k) column \(j)")
                    XCTAssertEqual(Array(ix[(j * k)..<((j + 1) * k)]), expected.map(\.1), "k \(k) column \(j)")
                }
            }
        }
    }

    func testGatherAndScatterAdd() {
        let width = 3
        let source: [Float] = [0, 1, 2, 10, 11, 12, 20, 21, 22]
        var gathered = [Float](repeating: 0, count: 4 * width)
        gatherRows(source, width: width, rows: [2, 0, 2, 1], count: 4, into: &gathered)
        XCTAssertEqual(gathered, [20, 21, 22, 0, 1, 2, 20, 21, 22, 10, 11, 12])
        var destination = [Float](repeating: 1, count: 3 * width)
        scatterAddRows(gathered, width: width, rows: [2, 0, 2, 1], weights: [1, 2, 0.5, -1], count: 4, into: &destination)
        XCTAssertEqual(destination, [1, 3, 5, -9, -10, -11, 31, 32.5, 34])
        scatterAddRows(gathered, width: width, rows: [0], weights: nil, count: 1, into: &destination)
        XCTAssertEqual(Array(destination[0..<3]), [21, 24, 27])
        // Empty index lists touch nothing.
        let before = destination
        gatherRows(source, width: width, rows: [], count: 0, into: &gathered)
        scatterAddRows(source, width: width, rows: [], weights: nil, count: 0, into: &destination)
        XCTAssertEqual(destination, before)
    }
}
