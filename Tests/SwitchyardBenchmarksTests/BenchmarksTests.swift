import XCTest
@testable import SwitchyardBenchmarks
import SwitchyardRouting
@testable import SwitchyardTensorCore
import SwitchyardTraining
import SwitchyardVisionTransformer

/// The FLOP count against a hand computation, and smoke runs of the training and routing
/// benchmarks (a few steps, a tiny grid: seconds, not measurements).
final class BenchmarksTests: XCTestCase {
    /// A 1-block model small enough to count by hand.
    static var tinyModel: ViTConfiguration {
        var m = ViTConfiguration()
        m.imageChannels = 1
        m.imageSize = 4
        m.patchSize = 2        // P = 4 patches, T = 5 tokens
        m.width = 8            // d
        m.heads = 2
        m.depth = 1
        m.expertHidden = 16    // h
        m.experts = 2
        m.classes = 3
        m.router = "switch"
        return m
    }

    func testFLOPCountMatchesAHandComputation() {
        // patch embedding      2·P·(C·p²)·d = 2·4·4·8          =  256
        // QKV                  2·T·d·3d     = 2·5·8·24         = 1920
        // output projection    2·T·d·d      = 2·5·8·8          =  640
        // scores + sums        2·(2·T²·d)   = 2·(2·25·8)       =  800
        // router (E·d = 16)    2·T·16                          =  160
        // experts (a = 1)      1·T·4·d·h    = 5·4·8·16         = 2560
        // classifier           2·d·c        = 2·8·3            =   48
        // forward                                                6384; training = 3 × 6384 = 19152
        let flops = ModelFLOPs(configuration: Self.tinyModel, assignmentsPerToken: [1], routerParameters: [16])
        XCTAssertEqual(flops.patchEmbedding, 256)
        XCTAssertEqual(flops.attentionProjections, 2560)
        XCTAssertEqual(flops.attentionMixing, 800)
        XCTAssertEqual(flops.routers, 160)
        XCTAssertEqual(flops.experts, 2560)
        XCTAssertEqual(flops.classifier, 48)
        XCTAssertEqual(flops.forward, 6384)
        XCTAssertEqual(flops.training, 19152)

        // Half the tokens dropped halves the expert term; an MLP head of 5: 2·8·5 + 2·5·3 = 110.
        var withHead = Self.tinyModel
        withHead.classifierHidden = 5
        let other = ModelFLOPs(configuration: withHead, assignmentsPerToken: [0.5], routerParameters: [16])
        XCTAssertEqual(other.experts, 1280)
        XCTAssertEqual(other.classifier, 110)
    }

    func testFLOPCountOfABuiltModelUsesItsRouters() throws {
        var rng = SeededRNG(seed: 0)
        let model = try VisionTransformerModel(configuration: Self.tinyModel, rng: &rng)
        let flops = ModelFLOPs(model: model, assignmentsPerToken: [1])
        XCTAssertEqual(flops.forward, 6384, "the switch gate has E·d = 16 weights")
        var m = Self.tinyModel
        m.router = "dense"
        let dense = ModelFLOPs(model: try VisionTransformerModel(configuration: m, rng: &rng), assignmentsPerToken: [1])
        XCTAssertEqual(dense.routers, 0)
        XCTAssertEqual(dense.forward, 6384 - 160)
    }

    func testTrainingBenchmarkSmokeGivesFinitePositiveNumbers() throws {
        var c = Presets.tiny
        c.batchSize = 8
        c.threads = 1
        let result = try TrainingBenchmark.run(configuration: c, steps: 2, warmup: 1, peakSize: 64, peakRepetitions: 1)
        for (name, value) in [("median", result.medianImagesPerSecond), ("mean", result.meanImagesPerSecond),
                              ("GFLOP/s", result.modelGFLOPS), ("peak", result.sgemmPeakGFLOPS ?? -1),
                              ("share", result.shareOfPeak ?? -1), ("flops", result.trainingFLOPsPerImage)] {
            XCTAssertTrue(value.isFinite && value > 0, "\(name) = \(value)")
        }
        XCTAssertEqual(result.assignmentsPerToken.count, c.model.depth)
        XCTAssertTrue(result.assignmentsPerToken.allSatisfy { $0 > 0 && $0 <= 1 }, "switch: at most one expert per token")
        XCTAssertEqual(result.trainingFLOPsPerImage, 3 * result.forwardFLOPsPerImage)
        XCTAssertTrue(result.finalLoss.isFinite)
        XCTAssertTrue(result.markdown.contains("share of the sgemm peak"), result.markdown)
        // The OpenBLAS kernel set that ran the GEMMs, as OpenBLAS names it.
        XCTAssertEqual(result.blasKernels, BLASKernels.summary)
        XCTAssertTrue(result.blasKernels.hasPrefix(BLASKernels.coreName + " ("), result.blasKernels)
        XCTAssertNotEqual(BLASKernels.coreName, "unknown")
        XCTAssertEqual(BLASKernels.summary(environment: [:]), BLASKernels.coreName + " (OpenBLAS's detection)")
        XCTAssertEqual(BLASKernels.summary(environment: ["OPENBLAS_CORETYPE": "Zen", "PATH": "/bin"]),
                       BLASKernels.coreName + " (OPENBLAS_CORETYPE=Zen)")
        XCTAssertTrue(result.markdown.contains("OpenBLAS kernels: \(result.blasKernels)"), result.markdown)
        // The replayed GEMMs of one step: the forward's and backward's products (at least the
        // patch embedding, QKV, projection, two expert layers and classifier, forward and backward).
        let replay = try XCTUnwrap(result.gemmReplay)
        XCTAssertGreaterThan(replay.calls, 6 * 2)
        XCTAssertTrue(replay.flops > 0 && replay.medianSeconds > 0 && replay.medianSeconds < result.medianStepSeconds,
                      "replay \(replay.medianSeconds) s, step \(result.medianStepSeconds) s")
        XCTAssertGreaterThan(try XCTUnwrap(result.gemmBoundImagesPerSecond), result.medianImagesPerSecond)
        XCTAssertTrue(result.markdown.contains("the step's GEMMs replayed alone"), result.markdown)
        let json = try JSONEncoder().encode(result)
        XCTAssertNoThrow(try JSONDecoder().decode(TrainingBenchmark.Result.self, from: json))
    }

    func testExpertChoiceAssignmentsAreCapacityFactorPerToken() throws {
        var c = Presets.tiny
        c.batchSize = 8
        c.threads = 1
        c.model.router = "expert-choice"
        let result = try TrainingBenchmark.run(configuration: c, steps: 1, warmup: 0, peakSize: 0)
        // n = 8·17 = 136 tokens, k = ⌈136·2/4⌉ = 68 per expert: 4·68/136 = 2 assignments per token.
        XCTAssertEqual(result.assignmentsPerToken, [2, 2])
        XCTAssertNil(result.sgemmPeakGFLOPS)
        XCTAssertTrue(result.markdown.contains("not measured"))
    }

    func testRoutingBenchmarkSmokeOnATinyGrid() throws {
        let grid = RoutingBenchmark.Grid(router: "switch", tokens: [64, 640], width: 8, experts: [2, 4], ks: [1],
                                         repetitions: 2, roundSeconds: 0)
        let cells = try RoutingBenchmark.run(grid)
        XCTAssertEqual(cells.count, 4)
        for cell in cells {
            XCTAssertNil(cell.skipped)
            XCTAssertTrue(cell.forwardSeconds > 0 && cell.backwardSeconds > 0, "\(cell)")
            XCTAssertTrue(cell.totalNanosecondsPerToken.isFinite)
            XCTAssertTrue(cell.assignmentsPerToken > 0 && cell.assignmentsPerToken <= 1)
        }
        let table = RoutingBenchmark.markdown(cells)
        XCTAssertTrue(table.contains("| switch | 640 | 8 | 4 | 1 |"), table)
        XCTAssertTrue(table.contains("(10.00)"), "n ratio shown beside t(n)/t(n′): \(table)")
        XCTAssertTrue(table.contains("(≤ 4.00)"), "E log E bound from 2 to 4 experts: \(table)")
        XCTAssertTrue(table.contains("Expert compute is not included"))
    }

    func testRoutingBenchmarkMapsKAndSkipsWhatItCannotRun() throws {
        XCTAssertEqual(try RoutingBenchmark.routerOptions(router: "expert-choice", k: 2, experts: 8), ["capacityFactor": "2"])
        XCTAssertEqual(try RoutingBenchmark.routerOptions(router: "noisy-top-k", k: 2, experts: 8), ["k": "2"])
        XCTAssertEqual(try RoutingBenchmark.routerOptions(router: "top-2", k: 2, experts: 8), ["secondPolicy": "all", "evaluationSecondPolicy": "all"])
        XCTAssertThrowsError(try RoutingBenchmark.routerOptions(router: "switch", k: 2, experts: 8))
        XCTAssertThrowsError(try RoutingBenchmark.routerOptions(router: "top-2", k: 1, experts: 8))
        XCTAssertThrowsError(try RoutingBenchmark.routerOptions(router: "nope", k: 1, experts: 8))
        XCTAssertEqual(RoutingBenchmark.defaultKs(router: "switch"), [1])
        XCTAssertEqual(RoutingBenchmark.defaultKs(router: "noisy-top-k"), [1, 2])

        // k > E is skipped; so is a cell over the memory limit.
        let grid = RoutingBenchmark.Grid(router: "noisy-top-k", tokens: [32], width: 4, experts: [1, 2], ks: [2],
                                         repetitions: 1, roundSeconds: 0)
        let cells = try RoutingBenchmark.run(grid)
        XCTAssertEqual(cells.map(\.skipped), ["k > E", nil])
        var small = RoutingBenchmark.Grid(router: "switch", tokens: [1000], width: 64, experts: [4], ks: [1])
        small.memoryLimitBytes = 1000
        XCTAssertNotNil(try RoutingBenchmark.run(small).first?.skipped)
        // n = 10⁶, d = 64, E = 256: 1.7 GB of inputs, gathers and gradients, and the bound of 10
        // router buffers of n × E floats (10 GB) that holds for every router.
        let big = RoutingBenchmark.estimatedBytes(router: "switch", tokens: 1_000_000, width: 64, experts: 256, k: 1)
        XCTAssertTrue(big > 11_000_000_000 && big < 13_000_000_000, "\(big)")
    }

    func testRoutingBenchmarkRefusesSoftRoutersByTrait() {
        let grid = RoutingBenchmark.Grid(router: "soft-moe", tokens: [34], width: 8, experts: [4], ks: [1],
                                         repetitions: 1, roundSeconds: 0)
        XCTAssertThrowsError(try RoutingBenchmark.run(grid)) {
            XCTAssertEqual(String(describing: $0), "router soft-moe returns soft plans (trait soft), which have no token "
                           + "dispatch and combine for this benchmark to time; `switchyard bench train` times it in the model")
        }
    }

    func testGEMMLogRecordsEveryCallFromEveryThreadAndReplaysThem() {
        ComputeThreads.count = 2
        defer { ComputeThreads.count = 1 }
        let a = Tensor(shape: [64 * 64]), b = Tensor(shape: [64 * 64]), c = Tensor(shape: [4 * 64 * 64])
        let shapes = GEMMLog.record {
            gemm(.none, .transposed, m: 64, n: 32, k: 16, a: a.pointer, lda: 16, b: b.pointer, ldb: 16,
                 c: c.pointer, ldc: 32)
            parallelParts(4) { part, _ in
                for i in part {
                    gemm(.transposed, .none, m: 8, n: 8, k: 8, a: a.pointer, lda: 8, b: b.pointer, ldb: 8,
                         beta: 1, c: c.pointer + i * 64, ldc: 8)
                }
            }
        }
        XCTAssertEqual(shapes.count, 5)
        XCTAssertEqual(shapes.first, GEMMShape(transposeA: false, transposeB: true, m: 64, n: 32, k: 16,
                                               lda: 16, ldb: 16, ldc: 32, beta: 0))
        XCTAssertEqual(shapes.dropFirst().filter { $0.transposeA && $0.m == 8 && $0.beta == 1 }.count, 4)
        XCTAssertEqual(GEMMLog.record {}, [], "a new recording starts empty")
        let replay = GEMMReplay.run(shapes, repetitions: 2)
        XCTAssertEqual(replay.calls, 5)
        let products: Double = 64 * 32 * 16 + 4 * 8 * 8 * 8
        XCTAssertEqual(replay.flops, 2 * products)
        XCTAssertTrue(replay.medianSeconds > 0 && replay.gflops.isFinite)
    }

    func testSGEMMPeakIsPositive() {
        BLASThreads.set(1)
        let peak = GEMMBenchmark.sgemmPeak(size: 64, repetitions: 2, roundSeconds: 0.001)
        XCTAssertTrue(peak.isFinite && peak > 0)
    }
}
