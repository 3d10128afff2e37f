import XCTest
@testable import SwitchyardTensorCore

/// ColumnTopKSelector selects exactly the sets of topKColumns (ties to the lower row, NaN
/// highest), in row order, for random, tie-heavy and NaN inputs, small (exact bound) and large
/// (sampled bound, with misses and overflows), with 1 and 2 threads; kthLargest is an order
/// statistic.
final class ColumnSelectionTests: XCTestCase {
    override func tearDown() {
        ComputeThreads.count = 1
        super.tearDown()
    }

    /// The heap method's sets, sorted by row.
    private func reference(_ x: [Float], rows n: Int, width e: Int, k: Int) -> [Int32] {
        var values = [Float](repeating: 0, count: e * k), indices = [Int32](repeating: 0, count: e * k)
        topKColumns(x, rows: n, width: e, k: k, values: &values, indices: &indices)
        var out: [Int32] = []
        for j in 0..<e { out += indices[(j * k)..<((j + 1) * k)].sorted() }
        return out
    }

    private func check(_ x: [Float], rows n: Int, width e: Int, k: Int, _ label: String,
                       selector: ColumnTopKSelector = ColumnTopKSelector()) {
        let expected = reference(x, rows: n, width: e, k: k)
        for threads in [1, 2] {
            ComputeThreads.count = threads
            var indices = [Int32](repeating: -1, count: e * k), values = [Float](repeating: 0, count: e * k)
            x.withUnsafeBufferPointer { xb in
                selector.select(xb.baseAddress!, rows: n, width: e, k: k, indices: &indices, values: &values)
            }
            XCTAssertEqual(indices, expected, "\(label), n \(n), E \(e), k \(k), \(threads) threads")
            for j in 0..<e {
                for i in 0..<k {
                    let t = Int(indices[j * k + i])
                    XCTAssertEqual(values[j * k + i].bitPattern, x[t * e + j].bitPattern, "\(label): value")
                }
            }
        }
    }

    func testRandomInputsMatchTheHeapMethod() {
        var rng = SeededRNG(seed: 7)
        let selector = ColumnTopKSelector()
        for (n, e) in [(1, 1), (5, 3), (100, 2), (1_000, 8), (2_047, 20), (3_000, 2), (5_000, 17), (20_000, 32)] {
            var x = [Float](repeating: 0, count: n * e)
            rng.fillUniform(&x, count: n * e, low: 0, high: 1)
            for k in Set([1, 2, max(1, n / e), max(1, 2 * n / e), n / 2, n - 1, n].filter { $0 >= 1 && $0 <= n }) {
                check(x, rows: n, width: e, k: k, "random", selector: selector)
            }
        }
    }

    func testTiesMatchTheHeapMethod() {
        var rng = SeededRNG(seed: 11)
        let selector = ColumnTopKSelector()
        for (n, e) in [(50, 3), (1_000, 4), (6_000, 16), (10_000, 9)] {
            for levels in [1, 2, 5, 50] {
                var x = [Float](repeating: 0, count: n * e)
                for i in 0..<(n * e) { x[i] = Float(Int(rng.nextFloat() * Float(levels))) / Float(levels) }
                for k in [1, n / e, n / 3, n - 1].filter({ $0 >= 1 && $0 <= n }) {
                    check(x, rows: n, width: e, k: k, "\(levels) levels", selector: selector)
                }
            }
        }
        // Signed zeros tie.
        var z = [Float](repeating: 0, count: 3_000 * 2)
        for i in stride(from: 0, to: z.count, by: 3) { z[i] = -0.0 }
        check(z, rows: 3_000, width: 2, k: 1_000, "signed zeros")
    }

    func testSkewedColumnsForceExactFallback() {
        // Columns whose top values sit in a narrow band late in the matrix: the sample misses.
        let n = 30_000, e = 4
        var x = [Float](repeating: 0, count: n * e)
        var rng = SeededRNG(seed: 3)
        for t in 0..<n {
            for j in 0..<e {
                x[t * e + j] = t < n - 500 ? rng.nextFloat() * 0.1 : 0.5 + rng.nextFloat() * Float(j)
            }
        }
        for k in [10, 400, 600, 5_000] { check(x, rows: n, width: e, k: k, "skewed") }
    }

    func testNaNRanksHighest() {
        var rng = SeededRNG(seed: 5)
        for n in [40, 4_000] {
            var x = [Float](repeating: 0, count: n * 3)
            rng.fillUniform(&x, count: x.count, low: 0, high: 1)
            x[7 * 3 + 1] = .nan
            x[(n - 1) * 3 + 1] = .nan
            for k in [1, 2, 5, n / 2] {
                let expected = reference(x, rows: n, width: 3, k: k)
                var indices = [Int32](repeating: -1, count: 3 * k), values = [Float](repeating: 0, count: 3 * k)
                ColumnTopKSelector().select(x, rows: n, width: 3, k: k, indices: &indices, values: &values)
                XCTAssertEqual(indices, expected, "NaN, n \(n), k \(k)")
            }
        }
    }

    func testKthLargestIsAnOrderStatistic() {
        var rng = SeededRNG(seed: 9)
        for count in [1, 2, 17, 100, 5_000] {
            for levels in [0, 3] {
                var a = [Float](repeating: 0, count: count)
                for i in 0..<count { a[i] = levels == 0 ? rng.nextFloat() : Float(Int(rng.nextFloat() * Float(levels))) }
                let sorted = a.sorted(by: >)
                for rank in Set([0, count / 2, count - 1]) {
                    var work = a
                    let v = work.withUnsafeMutableBufferPointer { kthLargest($0.baseAddress!, count: count, rank: rank) }
                    XCTAssertEqual(v, sorted[rank], "count \(count), rank \(rank)")
                }
            }
        }
    }

    /// The three-step form (bounds from a sample, candidates block by block in parts, sets)
    /// gives the one-call sets, for random, tie-heavy, skewed and NaN matrices.
    func testStepsMatchOneCall() {
        var rng = SeededRNG(seed: 21)
        for (n, e, levels) in [(3_000, 8, 0), (5_000, 5, 3), (20_000, 32, 0), (4_000, 16, 2)] {
            var x = [Float](repeating: 0, count: n * e)
            for i in 0..<(n * e) { x[i] = levels == 0 ? rng.nextFloat() : Float(Int(rng.nextFloat() * Float(levels))) }
            for variant in 0..<3 {
                var matrix = x
                if variant == 1 { for t in (n - 300)..<n { matrix[t * e + 1] += 5 } }   // the sample misses column 1's top
                if variant == 2 { matrix[17 * e + 2] = .nan }
                for k in [1, n / e, n / 2, n - 1] {
                    let expected = reference(matrix, rows: n, width: e, k: k)
                    for parts in [1, 2, 3] {
                        let selector = ColumnTopKSelector()
                        let m = 256
                        var sample = [Float](repeating: 0, count: m * e)
                        for i in 0..<m { for j in 0..<e { sample[i * e + j] = matrix[(i * n / m) * e + j] } }
                        XCTAssertTrue(selector.prepareInSteps(sample: sample, sampleRows: m, rows: n, width: e, k: k, parts: parts))
                        var indices = [Int32](repeating: -1, count: e * k), values = [Float](repeating: 0, count: e * k)
                        matrix.withUnsafeBufferPointer { xb in
                            // Parts take increasing ranges of 256-row blocks.
                            let blocks = (n + 255) / 256
                            for p in 0..<parts {
                                for b in (p * blocks / parts)..<((p + 1) * blocks / parts) {
                                    selector.collectInSteps(xb.baseAddress!, rows: (b * 256)..<min(n, (b + 1) * 256), width: e, part: p)
                                }
                            }
                            selector.finishInSteps(xb.baseAddress!, rows: n, width: e, k: k, indices: &indices, values: &values)
                        }
                        XCTAssertEqual(indices, expected, "n \(n) E \(e) levels \(levels) variant \(variant) k \(k) parts \(parts)")
                    }
                }
            }
        }
    }
}
