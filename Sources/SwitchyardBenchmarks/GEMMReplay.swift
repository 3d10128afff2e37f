import SwitchyardTensorCore

/// The GEMMs of one training step replayed on their own: what the step would take if
/// everything but its matrix products were free. `switchyard bench train` records the shapes
/// of one step's GEMM calls (``GEMMLog``) and times them here, back to back, on random operands,
/// with the same threads: the products large enough to be split
/// (``gemmParallelThreshold``) are split over ``ComputeThreads`` as in training, and each run of
/// consecutive small products (attention's per-image, per-head GEMMs) is divided between the
/// threads as attention divides its images.
public struct GEMMReplay: Codable, Sendable {
    /// GEMM calls per step.
    public var calls: Int
    /// Their floating-point operations (2·m·n·k each), per step.
    public var flops: Double
    /// Median seconds of one replay of all calls.
    public var medianSeconds: Double
    /// Calls too small to be split (attention's per-image, per-head products, mostly).
    public var smallCalls: Int
    /// Their floating-point operations, per step.
    public var smallFLOPs: Double
    /// Median seconds of one replay of the small calls alone.
    public var smallMedianSeconds: Double

    /// GFLOP/s of the replay: what OpenBLAS reaches on this step's shapes.
    public var gflops: Double { flops / medianSeconds / 1e9 }
    /// GFLOP/s of the small calls alone.
    public var smallGFLOPS: Double { smallFLOPs / smallMedianSeconds / 1e9 }

    /// Times `repetitions` replays of `shapes` (after one untimed replay) and keeps the median.
    public static func run(_ shapes: [GEMMShape], repetitions: Int = 5) -> GEMMReplay {
        precondition(repetitions >= 1, "GEMMReplay needs repetitions ≥ 1")
        let extents = shapes.map(\.extents)
        let aCount = max(1, extents.map(\.a).max() ?? 1), bCount = max(1, extents.map(\.b).max() ?? 1)
        let cCount = max(1, extents.map(\.c).max() ?? 1)
        var rng = SeededRNG(seed: 3)
        let a = Tensor(shape: [aCount]), b = Tensor(shape: [bCount])
        rng.fillGaussian(a.pointer, count: aCount)
        rng.fillGaussian(b.pointer, count: bCount)
        // Small products running in parallel write to their own C (one per thread).
        let threads = ComputeThreads.count
        let c = Tensor(shape: [threads * cCount])
        c.zero()

        // Runs of consecutive small shapes form one group, divided between the threads.
        var groups: [Range<Int>] = []
        var i = 0
        while i < shapes.count {
            var j = i + 1
            if !isSplit(shapes[i]) {
                while j < shapes.count && !isSplit(shapes[j]) { j += 1 }
            }
            groups.append(i..<j)
            i = j
        }

        func call(_ s: GEMMShape, c: UnsafeMutablePointer<Float>) {
            gemm(s.transposeA ? .transposed : .none, s.transposeB ? .transposed : .none,
                 m: s.m, n: s.n, k: s.k, a: a.pointer, lda: s.lda, b: b.pointer, ldb: s.ldb,
                 beta: s.beta, c: c, ldc: s.ldc)
        }
        func replay(smallOnly: Bool) {
            for group in groups {
                let one = group.count == 1 && isSplit(shapes[group.lowerBound])
                if one {
                    if !smallOnly { call(shapes[group.lowerBound], c: c.pointer) }
                    continue
                }
                parallelParts(group.count) { part, p in
                    for index in part { call(shapes[group.lowerBound + index], c: c.pointer + p * cCount) }
                }
            }
        }
        func time(_ body: () -> Void) -> Double {
            body()
            var times: [Double] = []
            for _ in 0..<repetitions {
                let start = monotonicSeconds()
                body()
                times.append(monotonicSeconds() - start)
            }
            return median(times)
        }
        let small = shapes.filter { !isSplit($0) }
        return GEMMReplay(calls: shapes.count, flops: shapes.reduce(0) { $0 + $1.flops },
                          medianSeconds: time { replay(smallOnly: false) },
                          smallCalls: small.count, smallFLOPs: small.reduce(0) { $0 + $1.flops },
                          smallMedianSeconds: time { replay(smallOnly: true) })
    }

    private static func isSplit(_ s: GEMMShape) -> Bool { s.m * s.n * s.k >= gemmParallelThreshold }
}
