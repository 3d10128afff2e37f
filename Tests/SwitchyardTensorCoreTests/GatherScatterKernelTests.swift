import XCTest
@testable import SwitchyardTensorCore

/// Row gather, weighted scatter-add and row dots against index loops in Double.
final class GatherScatterKernelTests: XCTestCase {
    func testGatherRowsWithRepeatsAndEmptyList() {
        var rng = SeededRNG(seed: 700)
        for width in [1, 3, 8, 17] {
            let sourceRows = 5
            let source = randomFloats(sourceRows * width, &rng)
            let indices: [Int32] = [4, 0, 0, 2, 4, 1]
            var destination = [Float](repeating: .nan, count: indices.count * width)
            gatherRows(source, width: width, rows: indices, count: indices.count, into: &destination)
            let expected = indices.flatMap { i in (0..<width).map { Double(source[Int(i) * width + $0]) } }
            assertClose(destination, expected, absolute: 0, "width \(width)")

            var untouched: [Float] = [7, 7]
            gatherRows(source, width: width, rows: [], count: 0, into: &untouched)
            XCTAssertEqual(untouched, [7, 7])
        }
    }

    func testScatterAddRowsWeightedAndUnweightedWithRepeats() {
        var rng = SeededRNG(seed: 701)
        for width in [1, 3, 8, 17] {
            let destinationRows = 4
            let indices: [Int32] = [3, 1, 3, 0, 3]
            let source = randomFloats(indices.count * width, &rng)
            let weights = randomFloats(indices.count, &rng)
            let start = randomFloats(destinationRows * width, &rng)
            for weighted in [false, true] {
                var destination = start
                if weighted {
                    scatterAddRows(source, width: width, rows: indices, weights: weights,
                                   count: indices.count, into: &destination)
                } else {
                    scatterAddRows(source, width: width, rows: indices, weights: nil,
                                   count: indices.count, into: &destination)
                }
                var expected = doubles(start)
                for (i, row) in indices.enumerated() {
                    let w = weighted ? Double(weights[i]) : 1
                    for j in 0..<width { expected[Int(row) * width + j] += w * Double(source[i * width + j]) }
                }
                assertClose(destination, expected, absolute: 1e-6, relative: 1e-6,
                            "width \(width) weighted \(weighted)")
            }
            var untouched = start
            scatterAddRows(source, width: width, rows: [], weights: nil, count: 0, into: &untouched)
            XCTAssertEqual(untouched, start)
        }
    }

    func testScatterAddIsTheAdjointOfGather() {
        // ⟨gather(S), D⟩ = ⟨S, scatterAdd(D)⟩ for any S, D and index list.
        var rng = SeededRNG(seed: 702)
        let width = 6, sourceRows = 7
        let indices: [Int32] = (0..<11).map { _ in Int32(rng.nextInt(below: sourceRows)) }
        let s = randomFloats(sourceRows * width, &rng), d = randomFloats(indices.count * width, &rng)
        var gathered = [Float](repeating: 0, count: indices.count * width)
        gatherRows(s, width: width, rows: indices, count: indices.count, into: &gathered)
        var scattered = [Float](repeating: 0, count: sourceRows * width)
        scatterAddRows(d, width: width, rows: indices, weights: nil, count: indices.count, into: &scattered)
        let left = zip(gathered, d).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let right = zip(s, scattered).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        XCTAssertEqual(left, right, accuracy: 1e-4)
    }

    func testRowDots() {
        var rng = SeededRNG(seed: 703)
        for (rows, width) in kernelTestShapes + [(3, 0), (0, 3)] {
            let a = randomFloats(rows * width, &rng), b = randomFloats(rows * width, &rng)
            var out = [Float](repeating: .nan, count: rows)
            rowDots(a, b, rows: rows, width: width, into: &out)
            let expected = (0..<rows).map { r in
                (0..<width).reduce(0.0) { $0 + Double(a[r * width + $1]) * Double(b[r * width + $1]) }
            }
            assertClose(out, expected, absolute: 1e-5, relative: 1e-5, "\(rows)×\(width)")
        }
    }
}
