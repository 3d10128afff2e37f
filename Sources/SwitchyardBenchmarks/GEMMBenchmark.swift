import Foundation
import COpenBLAS
import SwitchyardTensorCore

/// Switchyard's ``gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` wrapper timed side by
/// side with a direct `cblas_sgemm` call on the same n × n matrices.
public struct GEMMBenchmark: Sendable {
    /// Matrix size.
    public let size: Int
    /// Threads: ``ComputeThreads/count`` for the wrapper, OpenBLAS's own threads for the
    /// direct call.
    public let threads: Int
    /// Median GFLOP/s of the wrapper.
    public let wrapperGFLOPS: Double
    /// Median GFLOP/s of the direct call.
    public let directGFLOPS: Double

    /// The wrapper's throughput as a fraction of the direct call's.
    public var ratio: Double { wrapperGFLOPS / directGFLOPS }

    /// Runs `repetitions` alternating timed rounds of each side.
    public static func run(size n: Int, repetitions: Int) -> GEMMBenchmark {
        var rng = SeededRNG(seed: 1)
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        rng.fillGaussian(a.pointer, count: a.count)
        rng.fillGaussian(b.pointer, count: b.count)
        let flops = 2.0 * Double(n) * Double(n) * Double(n)

        func wrapper() {
            gemm(.none, .none, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n,
                 c: c.pointer, ldc: n)
        }
        let threads = ComputeThreads.count
        // The direct call runs with OpenBLAS's own threads; the wrapper keeps OpenBLAS at one
        // thread and splits the product over the compute threads.
        func direct() {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                        1, a.pointer, Int32(n), b.pointer, Int32(n), 0, c.pointer, Int32(n))
        }
        // Calls per round so that one round lasts about 50 ms. Every direct round is followed
        // by a wrapper round at one OpenBLAS thread, so the benchmark hands OpenBLAS back at one
        // thread with its workers stopped.
        BLASThreads.set(threads)
        for _ in 0..<3 { direct() }
        let t0 = monotonicSeconds()
        direct()
        BLASThreads.set(1)
        for _ in 0..<3 { wrapper() }
        let once = max(monotonicSeconds() - t0, 1e-7)
        let calls = max(1, Int(0.05 / once))

        func timeRound(_ body: () -> Void) -> Double {
            let start = monotonicSeconds()
            for _ in 0..<calls { body() }
            return flops * Double(calls) / (monotonicSeconds() - start) / 1e9
        }
        var wrapperRates: [Double] = [], directRates: [Double] = []
        for _ in 0..<repetitions {
            BLASThreads.set(threads)
            directRates.append(timeRound(direct))
            BLASThreads.set(1)
            wrapperRates.append(timeRound(wrapper))
        }
        return GEMMBenchmark(size: n, threads: threads,
                             wrapperGFLOPS: median(wrapperRates), directGFLOPS: median(directRates))
    }

    /// The measured sgemm peak: the median GFLOP/s over `repetitions` rounds (each about
    /// `roundSeconds` long) of a direct row-major `cblas_sgemm` on square n × n matrices,
    /// with OpenBLAS's own threading at ``ComputeThreads/count`` threads. `switchyard bench train` divides its model
    /// GFLOP/s by this. n = 1024 (2.1 GFLOP per call) is large enough for OpenBLAS to reach
    /// its plateau on the project's machine, small enough (12 MB) to measure in a second.
    public static func sgemmPeak(size n: Int = 1024, repetitions: Int = 7, roundSeconds: Double = 0.05) -> Double {
        precondition(n >= 1 && repetitions >= 1, "sgemmPeak needs size ≥ 1 and repetitions ≥ 1")
        var rng = SeededRNG(seed: 2)
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        rng.fillGaussian(a.pointer, count: a.count)
        rng.fillGaussian(b.pointer, count: b.count)
        let flops = 2.0 * Double(n) * Double(n) * Double(n)
        BLASThreads.set(ComputeThreads.count)
        defer { BLASThreads.set(1) }
        func direct() {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                        1, a.pointer, Int32(n), b.pointer, Int32(n), 0, c.pointer, Int32(n))
        }
        for _ in 0..<2 { direct() }
        let t0 = monotonicSeconds()
        direct()
        let calls = max(1, Int(roundSeconds / max(monotonicSeconds() - t0, 1e-7)))
        var rates: [Double] = []
        for _ in 0..<repetitions {
            let start = monotonicSeconds()
            for _ in 0..<calls { direct() }
            rates.append(flops * Double(calls) / (monotonicSeconds() - start) / 1e9)
        }
        return median(rates)
    }

    /// The result as a markdown table.
    public var markdownTable: String {
        func f(_ x: Double) -> String { String(format: "%.1f", x) }
        return """
        | side | size | threads | median GFLOP/s |
        |---|---|---|---|
        | direct cblas_sgemm | \(size) | \(threads) | \(f(directGFLOPS)) |
        | Switchyard gemm | \(size) | \(threads) | \(f(wrapperGFLOPS)) |

        wrapper / direct = \(String(format: "%.3f", ratio))
        """
    }
}
