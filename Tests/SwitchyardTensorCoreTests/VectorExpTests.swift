import XCTest
@testable import SwitchyardTensorCore

/// The vectorised exponential (VectorExp.swift) against Double `exp`: accuracy over the
/// finite range, the special values and the range ends, and the padded tail of the
/// pointer entry point; and the kernels built on it where SoftmaxKernelTests and
/// GELUKernelTests do not reach: softmax over several blocks of rows, and results that do
/// not depend on an element's position.
final class VectorExpTests: XCTestCase {
    /// The Float exponential's finite range: ln(FLT_MIN) rounded up, ln(FLT_MAX) rounded down.
    let lowest: Float = -87.33654
    let highest: Float = 88.72283

    /// e^x for each element through the pointer entry point.
    func exps(_ x: [Float]) -> [Float] {
        var out = [Float](repeating: .nan, count: x.count)
        vectorExp(x, into: &out, count: x.count)
        return out
    }

    /// The largest relative error and the largest error in units of the last place of the
    /// exact value (ulp of the Float binade that holds it), against Double exp.
    func maximumErrors(_ x: [Float]) -> (relative: Double, ulps: Double, worst: Float) {
        let y = exps(x)
        var relative = 0.0, ulps = 0.0, worst: Float = 0
        for (v, approximation) in zip(x, y) {
            let exact = Foundation.exp(Double(v))
            let error = abs(Double(approximation) - exact)
            let ulp = Double(sign: .plus, exponent: exact.exponent - 23, significand: 1)
            if error / exact > relative { relative = error / exact; worst = v }
            ulps = max(ulps, error / ulp)
        }
        return (relative, ulps, worst)
    }

    func testAgainstDoubleExpOnDenseGridAndRandomPoints() {
        // A dense grid over [−87, 88], every Float near 0 and near the two range ends,
        // and uniform random points over the whole finite range.
        var x = stride(from: -87.0, through: 88.0, by: 0.0005).map { Float($0) }
        for centre in [Float(0), -1, 1, lowest, highest] {
            var below = centre, above = centre
            for _ in 0..<2000 {
                below = below.nextDown
                above = above.nextUp
                x += [below, above]
            }
        }
        x += [0, -0.0, Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude, 1e-30, -1e-30]
        var rng = SeededRNG(seed: 700)
        for _ in 0..<100_000 { x.append(lowest + (highest - lowest) * rng.nextFloat()) }
        x = x.filter { $0 >= lowest && $0 <= highest }

        let (relative, ulps, worst) = maximumErrors(x)
        XCTAssertLessThanOrEqual(relative, 3e-7, "worst at x = \(worst)")
        XCTAssertLessThanOrEqual(ulps, 2, "worst relative error at x = \(worst)")
    }

    func testSpecialValuesAndRangeEnds() {
        let one = exps([0, -0.0])
        XCTAssertEqual(one, [1, 1])
        XCTAssertEqual(one.map(\.bitPattern), [Float(1).bitPattern, Float(1).bitPattern])

        let zeros = exps([-.infinity, -1e30, -Float.greatestFiniteMagnitude, -1000, -104, -100, -88,
                          lowest.nextDown, -87.34])
        for (i, z) in zeros.enumerated() { XCTAssertEqual(z.bitPattern, 0, "element \(i): \(z) is not +0") }

        let infinities = exps([.infinity, 1e30, .greatestFiniteMagnitude, 1000, 100, 89, 88.8, 88.73,
                               highest.nextUp])
        for (i, v) in infinities.enumerated() { XCTAssertEqual(v, .infinity, "element \(i)") }

        let nans = exps([.nan, -.nan, Float(nan: 0x1234, signaling: false), .nan, 1, .nan, .nan, .nan, .nan])
        for i in nans.indices where i != 4 { XCTAssert(nans[i].isNaN, "element \(i): \(nans[i])") }
        XCTAssertEqual(Double(nans[4]), M_E, accuracy: 3e-7 * M_E)

        // The ends of the finite range give finite, normal results, never subnormals.
        let ends = exps([highest, lowest, lowest.nextUp, -87.3, -87])
        XCTAssert(ends.allSatisfy { $0.isFinite && $0.isNormal }, "\(ends)")
        XCTAssertEqual(Double(ends[0]), Foundation.exp(Double(highest)), accuracy: 3e-7 * Foundation.exp(Double(highest)))
        XCTAssertGreaterThanOrEqual(ends[1], Float.leastNormalMagnitude)
    }

    func testTailGivesTheSameResultsAsFullVectors() {
        var rng = SeededRNG(seed: 701)
        let values = (0..<40).map { _ in 30 * rng.nextGaussian() } + [0, -87.3, 88.7, -90, 90, .nan]
        for value in values {
            // The full-vector path: a vector's worth of copies of the value.
            let reference = exps([Float](repeating: value, count: laneVectorWidth))[0]
            for count in 1...(2 * laneVectorWidth + 1) {
                // `count` copies followed by sentinels that must not be written.
                let input = [Float](repeating: value, count: count) + [Float](repeating: 5, count: 8)
                var out = [Float](repeating: -7, count: count + 8)
                vectorExp(input, into: &out, count: count)
                for i in 0..<count {
                    XCTAssertEqual(out[i].bitPattern, reference.bitPattern,
                                   "x = \(value), count \(count), position \(i)")
                }
                XCTAssertEqual(Array(out[count...]), [Float](repeating: -7, count: 8), "count \(count)")
            }
        }
        // Empty input, and in place.
        var empty: [Float] = []
        vectorExp([], into: &empty, count: 0)
        let x = (0..<21).map { _ in 5 * rng.nextGaussian() }
        let t = Tensor(shape: [21], values: x)
        vectorExp(t.pointer, into: t.pointer, count: 21)
        XCTAssertEqual(t.array, exps(x))
    }

    func testEveryLaneOfTheSIMDFunction() {
        // Distinct values in every lane: each lane agrees with the pointer path on that value.
        let values: [Float] = [-87.3, -20.5, -1, -0.0, 0.25, 1, 20.5, 88.7, -3.5, 2.25, -60, 60, 0.5, -0.5, 7, -7]
        var v = LaneVector()
        for lane in 0..<laneVectorWidth { v[lane] = values[lane % values.count] }
        let y = vectorExp(v)
        for lane in 0..<laneVectorWidth {
            XCTAssertEqual(y[lane].bitPattern, exps([v[lane]])[0].bitPattern, "lane \(lane)")
        }
    }

    /// e^x by the operations of ``vectorExp(_:)`` (VectorExp.swift) on one Float: the same
    /// clamps, shifter rounding, Cody–Waite reduction, Horner polynomial and two-factor
    /// scaling, one scalar operation for each lane operation.
    static func scalarExpSameOperations(_ x: Float) -> Float {
        let tooLow = x < expLowerBound
        var v = tooLow ? expLowerBound : x
        if v > expUpperClamp { v = expUpperClamp }
        let shifted = v * expLog2e + expShifter
        let nFloat = shifted - expShifter
        let n = Int32(bitPattern: shifted.bitPattern) &- expShifterBits
        var r = v - nFloat * expLn2High
        r = r - nFloat * expLn2Low
        let r2 = r * r
        var poly = expP0 * r + expP1
        poly = poly * r + expP2
        poly = poly * r + expP3
        poly = poly * r + expP4
        poly = poly * r + expP5
        let er = (poly * r2 + r) + 1
        func powerOfTwo(_ k: Int32) -> Float { Float(bitPattern: UInt32(bitPattern: (k &+ 127) &<< 23)) }
        let half = n >> 1
        let result = (er * powerOfTwo(half)) * powerOfTwo(n &- half)
        return tooLow ? 0 : result
    }

    func testLaneResultsDoNotDependOnTheVectorWidth() {
        // Every lane computes the scalar operations above, so the results are the same bits at
        // 8 lanes (FloatVector) and at 16 (LaneVector in a build with -DSWITCHYARD_AVX512):
        // the element-wise kernels may widen without changing a training run's numbers.
        var rng = SeededRNG(seed: 705)
        var x = (0..<4_099).map { _ in 40 * rng.nextGaussian() }
        x += [0, -0.0, -87.33654, -87.4, 88.72283, 88.8, -200, 200, .infinity, -.infinity, .nan, 1e-30, -1e-30]
        let y = exps(x)
        for (value, result) in zip(x, y) {
            let expected = Self.scalarExpSameOperations(value)
            XCTAssertTrue(result.bitPattern == expected.bitPattern || (result.isNaN && expected.isNaN),
                          "x = \(value): kernel \(result), scalar \(expected) (lanes: \(laneVectorWidth))")
        }
    }
    /// Softmax in Double, max-shifted, of one row.
    func referenceSoftmax(_ row: [Double]) -> [Double] {
        let m = row.max()!
        let e = row.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func testSoftmaxLogSoftmaxLogSumExpOverSeveralBlocks() {
        // 2,048-element blocks: 700 rows of 7 span three blocks (292 rows each), 3 rows of
        // 3,000 one row per block; one all −∞ row and some −∞ entries in the middle.
        var rng = SeededRNG(seed: 702)
        for (rows, width) in [(700, 7), (3, 3000), (2049, 1)] {
            var x = randomFloats(rows * width, &rng, scale: 3)
            let dead = rows / 2
            if width > 1 {
                for j in 0..<width { x[dead * width + j] = -.infinity }
                x[(dead + 1) * width] = -.infinity
            }
            var y = [Float](repeating: .nan, count: rows * width), ly = y
            var lse = [Float](repeating: .nan, count: rows)
            softmaxRows(x, into: &y, rows: rows, width: width)
            logSoftmaxRows(x, into: &ly, rows: rows, width: width)
            logSumExpRows(x, rows: rows, width: width, into: &lse)
            for r in 0..<rows {
                let row = Array(x[(r * width)..<((r + 1) * width)])
                let got = Array(y[(r * width)..<((r + 1) * width)])
                let gotLog = Array(ly[(r * width)..<((r + 1) * width)])
                if width > 1 && r == dead {
                    XCTAssert(got.allSatisfy(\.isNaN), "row \(r)")
                    XCTAssertEqual(lse[r], -.infinity)
                    continue
                }
                let reference = referenceSoftmax(doubles(row))
                let m = Double(row.max()!)
                let referenceLSE = m + Foundation.log(row.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
                assertClose(got, reference, absolute: 1e-7, relative: 2e-6, "softmax \(rows)×\(width) row \(r)")
                assertClose(lse[r], referenceLSE, absolute: 2e-6, relative: 1e-6, "lse \(rows)×\(width) row \(r)")
                assertClose(gotLog, doubles(row).map { $0 - referenceLSE }, absolute: 2e-6, relative: 1e-6,
                            "logSoftmax \(rows)×\(width) row \(r)")
                XCTAssertEqual(got.reduce(0.0) { $0 + Double($1) }, 1, accuracy: 1e-5)
            }
        }
    }

    func testGELULanesDoNotDependOnTheVectorWidth() {
        // GELU forward and backward (GELU.swift) by the same operations on one Float: the same
        // bits at any vector width, as for the exponential above.
        var rng = SeededRNG(seed: 706)
        let x = (0..<4_099).map { _ in 6 * rng.nextGaussian() } + [0, -0.0, -10.5, 10.5, -60, 60, .nan]
        let dy = x.map { _ in rng.nextGaussian() }
        var forward = [Float](repeating: 0, count: x.count), backward = forward
        geluForward(x, into: &forward, count: x.count)
        geluBackward(input: x, dOutput: dy, dInput: &backward, count: x.count)
        func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
        for i in x.indices {
            let v = x[i]
            let u = geluScale * (v + geluCubic * v * v * v)
            let expectedForward = v / (1 + Self.scalarExpSameOperations(-2 * u))
            var c = v > 10 ? 10 : v
            if c < -10 { c = -10 }
            let c2 = c * c
            let uc = geluScale * (c + geluCubic * c2 * c)
            let e = Self.scalarExpSameOperations(-2 * uc)
            let p = 1 / (1 + e)
            let q = e * p
            let slopeFactor: Float = 3 * geluCubic
            let expectedBackward = (p + 2 * c * p * q * geluScale * (1 + slopeFactor * c2)) * dy[i]
            XCTAssertTrue(same(forward[i], expectedForward), "x = \(v): forward \(forward[i]), scalar \(expectedForward)")
            XCTAssertTrue(same(backward[i], expectedBackward), "x = \(v): backward \(backward[i]), scalar \(expectedBackward)")
        }
    }

    func testGELUResultsDoNotDependOnPosition() {
        // The same value in a full vector and in every position of the padded tail.
        var rng = SeededRNG(seed: 703)
        let values = (0..<20).map { _ in 4 * rng.nextGaussian() } + [0, -10.5, 10.5, -60, 60, .nan]
        let n = 2 * laneVectorWidth - 1                  // a full vector and a tail
        let dy = (0..<n).map { _ in rng.nextGaussian() }
        for value in values {
            let x = [Float](repeating: value, count: n)
            var forward = [Float](repeating: 0, count: n), backward = forward
            geluForward(x, into: &forward, count: n)
            geluBackward(input: x, dOutput: [Float](repeating: 1, count: n), dInput: &backward, count: n)
            XCTAssert(forward.allSatisfy { $0.bitPattern == forward[0].bitPattern }, "x = \(value): \(forward)")
            XCTAssert(backward.allSatisfy { $0.bitPattern == backward[0].bitPattern }, "x = \(value): \(backward)")
            // With a gradient: gelu′(x) · dy[i], the same product in the vector loop and the tail.
            var scaled = [Float](repeating: 0, count: n)
            geluBackward(input: x, dOutput: dy, dInput: &scaled, count: n)
            for i in 0..<n {
                XCTAssertEqual(scaled[i].bitPattern, (backward[0] * dy[i]).bitPattern, "x = \(value), i = \(i)")
            }
        }
    }
}
