import ArgumentParser
import SwitchyardBenchmarks
import SwitchyardFileIO
import Foundation

/// `switchyard bench train`: training throughput, model GFLOP/s and the share of the sgemm peak.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time full training steps of a preset: images/s, model GFLOP/s and the share of the measured sgemm peak.",
        discussion: """
        The model, AdamW and the learning-rate schedule are built exactly as `switchyard train` \
        builds them, from the same options (--preset, --router, --router-option, --set, …). \
        Instead of a data set, one synthetic batch of the preset's shape is used for every step: \
        images N(0, 1) and uniform labels, fixed by --seed. Data loading is excluded, as in the \
        PyTorch reference (bench/torch_reference.py). --epochs and --data-dir are accepted, as \
        everywhere the run options are, and have no effect: no data set is read.

        A step is what training does per batch: zero the gradients, forward with routing, \
        backward, gradient norm (and clipping when optimizer.gradientClip > 0), AdamW update. \
        After --warmup untimed steps, --steps steps are timed one by one; the median and the mean \
        (images / total time) images/s are reported, with the median forward, backward and \
        update times.

        Model FLOPs are counted analytically per image (patch embedding, QKV and output \
        projections, attention scores and weighted sums, router gates, the expert FFNs for the \
        assignments the routers really made — averaged over the timed steps — and the \
        classifier), and training = 3 × forward. Model GFLOP/s = training FLOPs per image × the \
        median images/s. The sgemm peak is measured first by the same command: a square \
        cblas_sgemm of side --peak-size (default 1024), same threads, median of \
        --peak-repetitions rounds of about 50 ms. After the timed steps, the GEMM calls of one more \
        step are recorded and replayed alone with the same threads: their time is the step's floor \
        if everything else were free, and batch / that time the GEMM-bound images/s \
        (--no-gemm-replay skips it).

        Run it from a release build (make release). Examples:
          switchyard bench train --preset fmnist-small --router switch --steps 50
          switchyard bench train --router expert-choice --threads 2 --json bench/ec.json
          switchyard bench train --router top-2 --router-option secondPolicy=all --batch-size 256
          switchyard bench train --preset tiny --router switch --steps 2 --warmup 1 --peak-size 0
          switchyard bench train --set model.width=128 --set model.experts=8 --steps 20
        """
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "Timed training steps.")
    var steps = 50

    @Option(help: "Untimed warm-up steps before them.")
    var warmup = 10

    @Option(name: .customLong("peak-size"), help: "Side n of the square sgemm whose GFLOP/s is the peak (0 = do not measure).")
    var peakSize = 1024

    @Option(name: .customLong("peak-repetitions"), help: "Rounds of the sgemm peak measurement; the median is used.")
    var peakRepetitions = 7

    @Flag(name: .customLong("no-gemm-replay"),
          help: "Do not record one more step's GEMM calls and time them alone (the GEMM-bound images/s).")
    var noGEMMReplay = false

    @Option(help: "Also write the result as JSON to this file.")
    var json: String?

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    @Option(help: ArgumentHelp("`expert`: time expert-parallel steps over the processes of an MPI job (switchyard-mpi under mpirun): per rank the step's parts, expert compute, all-to-all time, waiting, rows and bytes exchanged. The sgemm peak and GEMM replay are skipped.", valueName: "mode"))
    var parallel: ParallelMode?

    @Option(help: ArgumentHelp("With --parallel expert: write the routing of every timed step (all processes' groups) as a trace, for `switchyard simulate --training`.", valueName: "file.sytrace"))
    var trace: String?

    func validate() throws {
        if trace != nil && parallel == nil { throw ValidationError("--trace records the steps of --parallel expert; give both") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
        guard peakSize >= 0 && peakSize <= 8192 else { throw ValidationError("--peak-size must be 0 (off) to 8192, got \(peakSize)") }
        guard peakRepetitions >= 1 else { throw ValidationError("--peak-repetitions must be at least 1, got \(peakRepetitions)") }
    }

    func run() throws {
        let configuration = try options.resolve()
        let quiet = self.quiet
        if parallel != nil {
            let communicator = try TrainCommand.expertParallelCommunicator()
            let result = try ExpertParallelBenchmark.run(configuration: configuration, communicator: communicator,
                                                         steps: steps, warmup: warmup, traceFile: trace) { line in
                if !quiet { FileHandle.standardError.write(Data(("bench train: " + line + "\n").utf8)) }
            }
            guard communicator.rank == 0 else { return }
            print(result.markdown)
            if let json { try writeJSON(result, to: json) }
            return
        }
        let result = try TrainingBenchmark.run(configuration: configuration, steps: steps, warmup: warmup,
                                               peakSize: peakSize, peakRepetitions: peakRepetitions,
                                               replayGEMMs: !noGEMMReplay) { line in
            if !quiet { FileHandle.standardError.write(Data(("bench train: " + line + "\n").utf8)) }
        }
        print(result.markdown)
        if let json { try writeJSON(result, to: json) }
    }

    private func writeJSON<T: Encodable>(_ value: T, to file: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(encoder.encode(value), to: file)
    }
}
