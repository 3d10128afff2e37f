import XCTest
import Synchronization
@testable import SwitchyardTensorCore

/// The compute threads: how ranges are split, that every part runs exactly once (on another
/// thread when there is one), that nesting cannot deadlock, and that every kernel that splits
/// its work gives the same bits with 1, 2 and 3 threads.
final class ComputeThreadsTests: XCTestCase {
    override func tearDown() {
        ComputeThreads.count = 1
        super.tearDown()
    }

    func testPartsAreContiguousNearEqualAndCoverTheRange() {
        for count in [0, 1, 2, 3, 7, 64, 1000, 1001] {
            for threads in 1...4 {
                for minimum in [1, 3, 100] {
                    let parts = partCount(count, threads: threads, minimumPerPart: minimum)
                    XCTAssert(parts >= 1 && parts <= threads, "count \(count) threads \(threads)")
                    if count >= minimum * threads { XCTAssertEqual(parts, threads) }
                    var next = 0
                    for p in 0..<parts {
                        let r = partRange(p, of: parts, count: count)
                        XCTAssertEqual(r.lowerBound, next)
                        XCTAssert(r.count == count / parts || r.count == count / parts + 1)
                        next = r.upperBound
                    }
                    XCTAssertEqual(next, count)
                }
            }
        }
    }

    func testEveryPartRunsOnceAndWorkersRunSome() {
        ComputeThreads.count = 3
        XCTAssertEqual(ComputeThreads.count, 3)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 300)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 300)
        let onOtherThread = Atomic<Int>(0)
        let caller = Thread.current
        for _ in 0..<200 {
            parallelParts(300, minimumPerPart: 10) { range, part in
                for i in range { hits[i] += 1 }
                if part > 0 && Thread.current != caller { onOtherThread.add(1, ordering: .relaxed) }
            }
        }
        XCTAssert((0..<300).allSatisfy { hits[$0] == 200 }, "every index in exactly one part per call")
        XCTAssertEqual(onOtherThread.load(ordering: .relaxed), 400, "parts 1 and 2 ran on workers every time")
    }

    func testNestedCallsRunInlineWithoutDeadlock() {
        ComputeThreads.count = 2
        let total = Atomic<Int>(0)
        parallelParts(4) { outer, _ in
            for _ in outer {
                parallelParts(100, minimumPerPart: 1) { inner, _ in total.add(inner.count, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 400)
    }

    func testWorkersSleepAndWakeUpAfterIdling() {
        ComputeThreads.count = 2
        var sums: [Int] = []
        for round in 0..<3 {
            if round > 0 { Thread.sleep(forTimeInterval: 0.05) }   // long past the spin: workers sleep
            let total = Atomic<Int>(0)
            parallelParts(1000, minimumPerPart: 100) { r, _ in total.add(r.reduce(0, +), ordering: .relaxed) }
            sums.append(total.load(ordering: .relaxed))
        }
        XCTAssertEqual(sums, [499_500, 499_500, 499_500])
    }

    /// Runs `body` with 1, 2 and 3 threads and asserts the outputs are bit for bit the same.
    func assertSameBitsForAnyThreadCount(_ name: String, _ body: () -> [Float],
                                         file: StaticString = #filePath, line: UInt = #line) {
        var results: [[UInt32]] = []
        for threads in 1...3 {
            ComputeThreads.count = threads
            results.append(body().map(\.bitPattern))
        }
        XCTAssertEqual(results[0], results[1], "\(name): 1 vs 2 threads", file: file, line: line)
        XCTAssertEqual(results[0], results[2], "\(name): 1 vs 3 threads", file: file, line: line)
    }

    /// A GEMM split over the compute threads computes the same product as one call (checked
    /// against a double-precision reference), and the same thread count gives the same bits
    /// every time. Across thread counts the bits may differ in the last place: the split moves
    /// the edges of OpenBLAS's register blocks, and on some CPUs (seen on an AMD EPYC with
    /// AVX-512, OpenBLAS 0.3.21) a split by columns then rounds some elements differently. Runs
    /// are reproducible for a fixed thread count, which is what the trainer promises.
    func testSplitGEMMsComputeTheProductAndRepeatBitForBit() {
        var rng = SeededRNG(seed: 900)
        // Large enough to be split (m·n·k ≥ gemmParallelThreshold), by rows and by columns, all
        // four transpose combinations, with beta = 1 accumulation.
        for (m, n, k) in [(300, 70, 40), (70, 300, 40), (129, 131, 33)] {
            XCTAssert(m * n * k >= gemmParallelThreshold)
            let a = randomFloats(m * k, &rng), b = randomFloats(k * n, &rng), c0 = randomFloats(m * n, &rng)
            for ta in [Transpose.none, .transposed] {
                for tb in [Transpose.none, .transposed] {
                    let lda = ta == .none ? k : m, ldb = tb == .none ? n : k
                    var expected = [Double](repeating: 0, count: m * n)
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0
                            for p in 0..<k {
                                let x = Double(ta == .none ? a[i * lda + p] : a[p * lda + i])
                                let y = Double(tb == .none ? b[p * ldb + j] : b[j * ldb + p])
                                sum += x * y
                            }
                            expected[i * n + j] = 0.5 * sum + Double(c0[i * n + j])
                        }
                    }
                    let product = { () -> [Float] in
                        var c = c0
                        gemm(ta, tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                             b: b, ldb: ldb, beta: 1, c: &c, ldc: n)
                        return c
                    }
                    for threads in 1...3 {
                        ComputeThreads.count = threads
                        let first = product(), second = product()
                        let name = "gemm \(m)×\(n)×\(k) \(ta) \(tb), \(threads) thread(s)"
                        assertClose(first, expected, absolute: 1e-4, relative: 1e-5, name)
                        XCTAssertEqual(first.map(\.bitPattern), second.map(\.bitPattern), "\(name): repeated call")
                    }
                }
            }
        }
    }

    func testSplitKernelsGiveTheSameBitsForAnyThreadCount() {
        var rng = SeededRNG(seed: 901)
        let rows = 700, width = 64
        let x = randomFloats(rows * width, &rng), y = randomFloats(rows * width, &rng)
        let gamma = randomFloats(width, &rng, scale: 0.5, shift: 1), beta = randomFloats(width, &rng)
        let rowWeights = randomFloats(rows, &rng)
        assertSameBitsForAnyThreadCount("layer norm forward and backward") {
            var out = [Float](repeating: 0, count: rows * width)
            var mean = [Float](repeating: 0, count: rows), rstd = mean
            layerNormForward(x, gamma: gamma, beta: beta, into: &out, mean: &mean, rstd: &rstd, rows: rows, width: width)
            var dx = [Float](repeating: 0, count: rows * width)
            var dGamma = [Float](repeating: 0.25, count: width), dBeta = dGamma
            layerNormBackward(dOutput: y, input: x, gamma: gamma, mean: mean, rstd: rstd, dInput: &dx,
                              dGamma: &dGamma, dBeta: &dBeta, rows: rows, width: width)
            return out + mean + rstd + dx + dGamma + dBeta
        }
        assertSameBitsForAnyThreadCount("element-wise, bias, column sums, row scaling") {
            var sum = [Float](repeating: 0, count: rows * width)
            add(x, y, into: &sum, count: sum.count)
            addInPlace(&sum, x, count: sum.count)
            addRowBias(&sum, bias: beta, rows: rows, width: width)
            scaleRows(&sum, by: rowWeights, rows: rows, width: width)
            var columns = [Float](repeating: 1, count: width)
            accumulateColumnSums(sum, rows: rows, width: width, into: &columns)
            return sum + columns
        }
        // Token indices with repeats and gaps, as an MoE layer's combine sees them.
        let assignments = 1500
        let indices = (0..<assignments).map { _ in Int32(rng.nextInt(below: rows)) }
        let weights = randomFloats(assignments, &rng)
        let source = randomFloats(assignments * width, &rng)
        assertSameBitsForAnyThreadCount("gather, scatter-add, row dots") {
            var gathered = [Float](repeating: 0, count: assignments * width)
            gatherRows(x, width: width, rows: indices, count: assignments, into: &gathered)
            var scattered = [Float](repeating: 0, count: rows * width)
            scatterAddRows(source, width: width, rows: indices, weights: weights, count: assignments, into: &scattered)
            var dots = [Float](repeating: 0, count: assignments)
            rowDots(gathered, source, rows: assignments, width: width, into: &dots)
            return gathered + scattered + dots
        }
        let batch = 9, tokens = 50, d = 64, heads = 4
        let qkv = randomFloats(batch * tokens * 3 * d, &rng), dO = randomFloats(batch * tokens * d, &rng)
        assertSameBitsForAnyThreadCount("attention forward and backward") {
            var out = [Float](repeating: 0, count: batch * tokens * d)
            var p = [Float](repeating: 0, count: batch * heads * tokens * tokens)
            attentionForward(qkv: qkv, output: &out, probabilities: &p, batch: batch, tokens: tokens, width: d, heads: heads)
            var dQKV = [Float](repeating: 0, count: qkv.count)
            attentionBackward(dOutput: dO, qkv: qkv, probabilities: p, dQKV: &dQKV,
                              batch: batch, tokens: tokens, width: d, heads: heads)
            return out + p + dQKV
        }
    }

    func testScatterAddMatchesTheSerialDefinitionWithTwoThreads() {
        ComputeThreads.count = 2
        var rng = SeededRNG(seed: 902)
        let rows = 400, width = 48, count = 1200
        let indices = (0..<count).map { _ in Int32(rng.nextInt(below: rows)) }
        let source = randomFloats(count * width, &rng)
        var expected = [Double](repeating: 0, count: rows * width)
        for i in 0..<count {
            for j in 0..<width { expected[Int(indices[i]) * width + j] += Double(source[i * width + j]) }
        }
        var actual = [Float](repeating: 0, count: rows * width)
        scatterAddRows(source, width: width, rows: indices, weights: nil, count: count, into: &actual)
        assertClose(actual, expected, absolute: 1e-5, relative: 1e-5)
    }
}
