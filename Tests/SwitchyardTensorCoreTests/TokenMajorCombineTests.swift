import XCTest
@testable import SwitchyardTensorCore

/// The token-major combine (gatherAddRows), the fused combine backward
/// (gatherScaledRowsAndDots) and the softmax with log-sum-exp give the same bits as the
/// kernels they replace, with 1 and 2 threads.
final class TokenMajorCombineTests: XCTestCase {
    override func tearDown() {
        ComputeThreads.count = 1
        super.tearDown()
    }

    /// A token index for `indices` over `rows` rows (counting sort, increasing positions).
    private func tokenIndex(_ indices: [Int32], rows: Int) -> (offsets: [Int32], entries: [Int32]) {
        var offsets = [Int32](repeating: 0, count: rows + 1)
        for t in indices { offsets[Int(t) + 1] += 1 }
        for t in 0..<rows { offsets[t + 1] += offsets[t] }
        var cursor = offsets, entries = [Int32](repeating: 0, count: indices.count)
        for (i, t) in indices.enumerated() {
            entries[Int(cursor[Int(t)])] = Int32(i)
            cursor[Int(t)] += 1
        }
        return (offsets, entries)
    }

    func testGatherAddRowsEqualsZeroingAndScatterAdd() {
        var rng = SeededRNG(seed: 800)
        for width in [1, 7, 8, 64, 70] {
            for rows in [1, 5, 600] {
                let count = rows * 2
                let indices = (0..<count).map { _ in Int32(rng.nextInt(below: rows)) }
                let source = randomFloats(count * width, &rng), weights = randomFloats(count, &rng)
                let (offsets, entries) = tokenIndex(indices, rows: rows)
                for weighted in [false, true] {
                    var expected = [Float](repeating: 0, count: rows * width)
                    scatterAddRows(source, width: width, rows: indices, weights: weighted ? weights : nil,
                                   count: count, into: &expected)
                    for threads in [1, 2] {
                        ComputeThreads.count = threads
                        var got = [Float](repeating: .nan, count: rows * width)
                        weights.withUnsafeBufferPointer { w in
                            gatherAddRows(source, width: width, offsets: offsets, entries: entries,
                                          weights: weighted ? w.baseAddress! : nil, rows: rows, into: &got)
                        }
                        XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern),
                                       "width \(width) rows \(rows) weighted \(weighted) threads \(threads)")
                    }
                }
            }
        }
    }

    func testGatherScaledRowsAndDotsEqualsTheThreeSteps() {
        var rng = SeededRNG(seed: 801)
        for width in [1, 9, 64] {
            let rows = 300, count = 500
            let indices = (0..<count).map { _ in Int32(rng.nextInt(below: rows)) }
            let dy = randomFloats(rows * width, &rng), b = randomFloats(count * width, &rng)
            let weights = randomFloats(count, &rng)
            var scaled = [Float](repeating: 0, count: count * width), dots = [Float](repeating: 0, count: count)
            gatherRows(dy, width: width, rows: indices, count: count, into: &scaled)
            rowDots(scaled, b, rows: count, width: width, into: &dots)
            scaleRows(&scaled, by: weights, rows: count, width: width)
            for threads in [1, 2] {
                ComputeThreads.count = threads
                var s2 = [Float](repeating: .nan, count: count * width), d2 = [Float](repeating: .nan, count: count)
                gatherScaledRowsAndDots(dy, b, width: width, rows: indices, weights: weights, count: count,
                                        scaled: &s2, dots: &d2)
                XCTAssertEqual(s2.map(\.bitPattern), scaled.map(\.bitPattern), "width \(width)")
                XCTAssertEqual(d2.map(\.bitPattern), dots.map(\.bitPattern), "width \(width)")
            }
        }
    }

    func testSoftmaxWithLogSumExpEqualsTheSeparateKernels() {
        var rng = SeededRNG(seed: 802)
        for width in [1, 2, 5, 8, 33, 128] {
            let rows = 700
            var x = randomFloats(rows * width, &rng).map { $0 * 8 }
            x[3 * width] = -.infinity
            var p = [Float](repeating: 0, count: rows * width), lse = [Float](repeating: 0, count: rows)
            softmaxRows(x, into: &p, rows: rows, width: width)
            logSumExpRows(x, rows: rows, width: width, into: &lse)
            var p2 = [Float](repeating: .nan, count: rows * width), lse2 = [Float](repeating: .nan, count: rows)
            softmaxRows(x, into: &p2, rows: rows, width: width, logSumExp: &lse2)
            XCTAssertEqual(p2.map(\.bitPattern), p.map(\.bitPattern), "width \(width)")
            XCTAssertEqual(lse2.map(\.bitPattern), lse.map(\.bitPattern), "width \(width)")
        }
    }
}
