import XCTest
@testable import SwitchyardTensorCore

/// Top-k along rows and columns against a full sort by (value descending, index ascending).
final class TopKKernelTests: XCTestCase {
    /// The reference order: NaN above numbers, larger values first, then lower index.
    func referenceTopK(_ values: [Float], k: Int) -> [(Float, Int32)] {
        let order = values.indices.sorted { i, j in
            let a = values[i], b = values[j]
            if a.isNaN || b.isNaN {
                if a.isNaN && b.isNaN { return i < j }
                return a.isNaN
            }
            return a != b ? a > b : i < j
        }
        return order.prefix(k).map { (values[$0], Int32($0)) }
    }

    func check(values: [Float], indices: [Int32], expected: [(Float, Int32)], _ message: String,
               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(indices, expected.map(\.1), message, file: file, line: line)
        XCTAssertEqual(values.map(\.bitPattern), expected.map(\.0.bitPattern), message, file: file, line: line)
    }

    /// Random matrices, half of them drawn from four values so that ties are everywhere.
    func matrix(_ rows: Int, _ width: Int, ties: Bool, _ rng: inout SeededRNG) -> [Float] {
        (0..<(rows * width)).map { _ in ties ? Float(rng.nextInt(below: 4)) : rng.nextGaussian() }
    }

    func testTopKRowsAgainstSort() {
        var rng = SeededRNG(seed: 600)
        for (rows, width) in kernelTestShapes + [(0, 4), (2, 256)] {
            for ties in [false, true] {
                let x = matrix(rows, width, ties: ties, &rng)
                for k in Set([0, 1, 2, width / 2, width - 1, width].filter { $0 >= 0 && $0 <= width }).sorted() {
                    var values = [Float](repeating: .nan, count: rows * k)
                    var indices = [Int32](repeating: -9, count: rows * k)
                    topKRows(x, rows: rows, width: width, k: k, values: &values, indices: &indices)
                    let expected = (0..<rows).flatMap { r in
                        referenceTopK(Array(x[(r * width)..<((r + 1) * width)]), k: k)
                    }
                    check(values: values, indices: indices, expected: expected,
                          "topKRows \(rows)×\(width) k=\(k) ties=\(ties)")
                }
            }
        }
    }

    func testTopKColumnsAgainstSort() {
        var rng = SeededRNG(seed: 601)
        for (rows, width) in kernelTestShapes + [(300, 4), (1000, 2), (0, 3)] {
            for ties in [false, true] {
                let x = matrix(rows, width, ties: ties, &rng)
                for k in Set([0, 1, 2, 7, rows / 3, rows - 1, rows].filter { $0 >= 0 && $0 <= rows }).sorted() {
                    var values = [Float](repeating: .nan, count: width * k)
                    var indices = [Int32](repeating: -9, count: width * k)
                    topKColumns(x, rows: rows, width: width, k: k, values: &values, indices: &indices)
                    let expected = (0..<width).flatMap { j in
                        referenceTopK((0..<rows).map { x[$0 * width + j] }, k: k)
                    }
                    check(values: values, indices: indices, expected: expected,
                          "topKColumns \(rows)×\(width) k=\(k) ties=\(ties)")
                }
            }
        }
    }

    func testTopKColumnsEveryBlockingRegime() {
        // Tiny cache budgets force each path on a small matrix: all heaps at once, column
        // blocks of ≥ 16 with row chunks (several, the last one partial), and narrow blocks.
        var rng = SeededRNG(seed: 603)
        let rows = 230, width = 37
        for ties in [false, true] {
            let x = matrix(rows, width, ties: ties, &rng)
            for k in [1, 3, 40, 229, 230] {
                let expected = (0..<width).flatMap { j in referenceTopK((0..<rows).map { x[$0 * width + j] }, k: k) }
                for (all, perBlock, chunk) in [(1 << 30, 1 << 30, 1 << 20),   // one block
                                               (0, 16 * 8 * k, 4 * width * 7),  // 16-column blocks, 7-row chunks
                                               (0, 20 * 8 * k, 4 * width * 64), // 20-column blocks, 64-row chunks
                                               (0, 5 * 8 * k, 4 * width * 7),   // 5-column blocks, no chunks
                                               (0, 0, 4 * width)] {              // single columns
                    var values = [Float](repeating: .nan, count: width * k)
                    var indices = [Int32](repeating: -9, count: width * k)
                    topKColumns(x, rows: rows, width: width, k: k, values: &values, indices: &indices,
                                allHeapsBudget: all, blockHeapBudget: perBlock, chunkBytes: chunk)
                    check(values: values, indices: indices, expected: expected,
                          "k=\(k) ties=\(ties) budgets \(all) \(perBlock) \(chunk)")
                }
            }
        }
        // Width 0 with k > 0 has nothing to select.
        var v: [Float] = [5], i: [Int32] = [5]
        topKColumns([], rows: 4, width: 0, k: 2, values: &v, indices: &i)
        XCTAssertEqual(v, [5])
    }

    func testKZeroWritesNothing() {
        var values: [Float] = [42], indices: [Int32] = [42]
        topKRows([1, 2, 3], rows: 1, width: 3, k: 0, values: &values, indices: &indices)
        topKColumns([1, 2, 3], rows: 3, width: 1, k: 0, values: &values, indices: &indices)
        XCTAssertEqual(values, [42])
        XCTAssertEqual(indices, [42])
    }

    func testTiesNaNAndInfinities() {
        let row: [Float] = [1, .nan, 3, -.infinity, 3, .nan, .infinity, 1]
        var values = [Float](repeating: 0, count: 8), indices = [Int32](repeating: 0, count: 8)
        topKRows(row, rows: 1, width: 8, k: 8, values: &values, indices: &indices)
        XCTAssertEqual(indices, [1, 5, 6, 2, 4, 0, 7, 3])
        topKColumns(row, rows: 8, width: 1, k: 5, values: &values, indices: &indices)
        XCTAssertEqual(Array(indices[0..<5]), [1, 5, 6, 2, 4])
        XCTAssertEqual(values[2], .infinity)
        XCTAssertEqual(values[3], 3)
        // All equal: the lowest indices, in order.
        topKRows([Float](repeating: 0.5, count: 6), rows: 1, width: 6, k: 4, values: &values, indices: &indices)
        XCTAssertEqual(Array(indices[0..<4]), [0, 1, 2, 3])
        // −0 and +0 compare equal, so they tie and the lower index wins.
        topKRows([-0.0, 0.0], rows: 1, width: 2, k: 1, values: &values, indices: &indices)
        XCTAssertEqual(indices[0], 0)
    }

    func testColumnsMatchRowsOfTheTranspose() {
        var rng = SeededRNG(seed: 602)
        let rows = 500, width = 6, k = 20
        let x = matrix(rows, width, ties: false, &rng)
        var transposed = [Float](repeating: 0, count: rows * width)
        for r in 0..<rows { for j in 0..<width { transposed[j * rows + r] = x[r * width + j] } }
        var cv = [Float](repeating: 0, count: width * k), ci = [Int32](repeating: 0, count: width * k)
        var rv = cv, ri = ci
        topKColumns(x, rows: rows, width: width, k: k, values: &cv, indices: &ci)
        topKRows(transposed, rows: width, width: rows, k: k, values: &rv, indices: &ri)
        XCTAssertEqual(cv, rv)
        XCTAssertEqual(ci, ri)
    }
}
