import ArgumentParser
import SwitchyardBenchmarks
import SwitchyardTensorCore

/// `switchyard bench`: measured performance, in a release build.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure performance (run from a release build: make bench).",
        discussion: """
        train: training throughput, model GFLOP/s and the share of the sgemm peak; route: the \
        routing microbenchmark; gemm: the GEMM wrapper against cblas_sgemm; stats: the routing \
        statistics; coverage: the calibration of their intervals and tests, by simulation. bench/compare.sh (make bench-torch) runs train and route side by side with \
        the PyTorch reference. See docs/performance.md.

        Examples:
          switchyard bench train --preset fmnist-small --router switch --steps 50
          switchyard bench route --tokens 1000,10000,100000 --experts 2,8,64
        """,
        subcommands: [BenchTrainCommand.self, BenchRouteCommand.self, BenchGEMMCommand.self, BenchStatsCommand.self,
                      BenchCoverageCommand.self]
    )
}

/// `switchyard bench gemm`: the GEMM wrapper against a direct `cblas_sgemm` call.
struct BenchGEMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Time Switchyard's GEMM wrapper side by side with a direct cblas_sgemm call.",
        discussion: """
        Both sides multiply the same square matrices, alternating, and the median of \
        the repetitions is reported in GFLOP/s (2·n³ floating-point operations per call).

        Example:
          switchyard bench gemm --size 512 --threads 2 --repetitions 15
        """
    )

    @Option(help: "Matrix size n for n×n · n×n.")
    var size: Int = 512

    @Option(help: "Threads: the wrapper splits each product over this many compute threads; the direct call uses OpenBLAS's own threads.")
    var threads: Int = 2

    @Option(help: "Timed repetitions per side (each repetition runs enough calls to last ~50 ms).")
    var repetitions: Int = 15

    func validate() throws {
        guard size >= 1 else { throw ValidationError("--size must be at least 1, got \(size)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
    }

    func run() throws {
        ComputeThreads.count = threads
        let result = GEMMBenchmark.run(size: size, repetitions: repetitions)
        print(result.markdownTable)
    }
}
