import Foundation
import SwitchyardLayers
import SwitchyardRouting
import SwitchyardTensorCore
import SwitchyardTraining
import SwitchyardVisionTransformer

/// Training throughput of a configuration, as `switchyard bench train` measures it.
///
/// The model, optimiser and learning-rate schedule are built exactly as ``Trainer`` builds them
/// (same seed streams, same AdamW, same schedule with the run's warm-up). Instead of a data set,
/// one synthetic batch is used for every step: images N(0, 1) (the scale of normalised pixels)
/// and uniform labels, both from the seed (stream 7). Data loading is therefore excluded, as in
/// `bench/torch_reference.py`. Each step is what the trainer does per batch: zero the gradients,
/// forward with routing (training mode), backward, global gradient norm (and clipping when
/// `optimizer.gradientClip` > 0), AdamW update. Metrics logging, evaluation, traces and
/// checkpoints are not part of a step.
///
/// ```swift
/// var c = Presets.fmnistSmall
/// c.model.router = "expert-choice"
/// let result = try TrainingBenchmark.run(configuration: c, steps: 50, warmup: 10)
/// print(result.markdown)
/// ```
public enum TrainingBenchmark {
    /// What one run of the benchmark measured.
    public struct Result: Codable, Sendable {
        /// The configuration's preset.
        public var preset: String
        /// The router's name.
        public var router: String
        /// The router's options as resolved (defaults included), name → JSON value.
        public var routerOptions: [String: String]
        /// Experts per MoE layer as configured (the dense router builds one).
        public var experts: Int
        /// Images per step.
        public var batchSize: Int
        /// Compute threads (``ComputeThreads/count``; OpenBLAS itself runs at one thread).
        public var threads: Int
        /// OpenBLAS's kernel set and how it was chosen (``BLASKernels/summary``).
        public var blasKernels: String
        /// Untimed warm-up steps.
        public var warmupSteps: Int
        /// Timed steps.
        public var steps: Int
        /// Trainable parameters.
        public var parameterCount: Int
        /// Median over the timed steps of batch / step time.
        public var medianImagesPerSecond: Double
        /// Images of all timed steps / their total time.
        public var meanImagesPerSecond: Double
        /// Median step time, seconds.
        public var medianStepSeconds: Double
        /// Median forward time (routing included), seconds.
        public var medianForwardSeconds: Double
        /// Median backward time, seconds.
        public var medianBackwardSeconds: Double
        /// Median gradient-norm, clipping and AdamW time, seconds.
        public var medianUpdateSeconds: Double
        /// Expert assignments per token in each block, averaged over the timed steps.
        public var assignmentsPerToken: [Double]
        /// Model FLOPs per image, by part, with the measured assignments.
        public var flopsPerImage: ModelFLOPs
        /// Forward FLOPs per image.
        public var forwardFLOPsPerImage: Double
        /// Training FLOPs per image (``ModelFLOPs/trainingMultiplier`` × forward).
        public var trainingFLOPsPerImage: Double
        /// Training FLOPs per image × the median images/s, in GFLOP/s.
        public var modelGFLOPS: Double
        /// Side n of the square sgemm of the peak measurement (0 = not measured).
        public var sgemmPeakSize: Int
        /// Rounds of the peak measurement.
        public var sgemmPeakRepetitions: Int
        /// The measured sgemm peak in GFLOP/s, or nil when not measured.
        public var sgemmPeakGFLOPS: Double?
        /// modelGFLOPS / sgemmPeakGFLOPS.
        public var shareOfPeak: Double?
        /// The GEMMs of one step replayed alone, or nil when not measured.
        public var gemmReplay: GEMMReplay?
        /// Images/s if everything but the GEMMs took no time: the batch / the replay's time.
        public var gemmBoundImagesPerSecond: Double? {
            gemmReplay.map { Double(batchSize) / $0.medianSeconds }
        }
        /// The loss of the last timed step (finite, or the run would have stopped).
        public var finalLoss: Float
        /// How FLOPs are counted.
        public var flopConvention: String
        /// What the input is.
        public var data: String

        /// The result as a markdown table with a heading line.
        public var markdown: String {
            func rate(_ x: Double) -> String { String(format: "%.1f", x) }
            func ms(_ x: Double) -> String { String(format: "%.1f ms", x * 1000) }
            func mflop(_ x: Double) -> String { String(format: "%.2f MFLOP", x / 1e6) }
            let f = flopsPerImage
            func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
            var lines = [
                "bench train: preset \(preset), router \(router) (\(experts) experts), batch \(batchSize), " +
                    "\(count(threads, "thread")), \(count(steps, "timed step")) after \(count(warmupSteps, "warm-up step"))",
                "data: \(data)",
                "OpenBLAS kernels: \(blasKernels)",
                "",
                "| measure | value |",
                "|---|---|",
                "| images/s, median of steps | \(rate(medianImagesPerSecond)) |",
                "| images/s, mean (images / total time) | \(rate(meanImagesPerSecond)) |",
                "| step time, median | \(ms(medianStepSeconds)): forward \(ms(medianForwardSeconds)), " +
                    "backward \(ms(medianBackwardSeconds)), norm + clip + AdamW \(ms(medianUpdateSeconds)) |",
                "| expert assignments per token, by block | " +
                    assignmentsPerToken.map { String(format: "%.3f", $0) }.joined(separator: ", ") + " |",
                "| forward FLOPs per image | \(mflop(forwardFLOPsPerImage)): patch \(mflop(f.patchEmbedding)), " +
                    "attention projections \(mflop(f.attentionProjections)), attention scores + sums " +
                    "\(mflop(f.attentionMixing)), routers \(mflop(f.routers)), experts \(mflop(f.experts)), " +
                    "classifier \(mflop(f.classifier))" + (f.sharedExperts.map { ", shared experts \(mflop($0))" } ?? "") + " |",
                "| training FLOPs per image | \(mflop(trainingFLOPsPerImage)) (training = 3 × forward) |",
                "| model GFLOP/s, at the median rate | \(rate(modelGFLOPS)) |",
            ]
            if let peak = sgemmPeakGFLOPS, let share = shareOfPeak {
                lines.append("| sgemm peak, n = \(sgemmPeakSize), median of \(count(sgemmPeakRepetitions, "round")) | \(rate(peak)) GFLOP/s |")
                lines.append("| share of the sgemm peak | \(String(format: "%.1f%%", share * 100)) |")
            } else {
                lines.append("| sgemm peak | not measured (--peak-size 0) |")
            }
            if let replay = gemmReplay, let bound = gemmBoundImagesPerSecond {
                lines.append("| the step's GEMMs replayed alone | \(count(replay.calls, "call")), " +
                             "\(String(format: "%.2f", replay.flops / 1e9)) GFLOP in \(ms(replay.medianSeconds)) " +
                             "(\(rate(replay.gflops)) GFLOP/s; \(String(format: "%.0f%%", replay.medianSeconds / medianStepSeconds * 100)) of the median step) |")
                lines.append("| of which small (unsplit) products | \(count(replay.smallCalls, "call")), " +
                             "\(String(format: "%.2f", replay.smallFLOPs / 1e9)) GFLOP in \(ms(replay.smallMedianSeconds)) " +
                             "(\(rate(replay.smallGFLOPS)) GFLOP/s) |")
                lines.append("| images/s bound if all but the GEMMs were free | \(rate(bound)) |")
            }
            lines.append("")
            lines.append("FLOPs: \(flopConvention)")
            return lines.joined(separator: "\n")
        }
    }

    /// The FLOP-counting convention, as printed and stored.
    public static let flopConvention = """
        analytic GEMM and attention FLOPs per image (patch embedding, QKV and output projections, \
        attention scores and weighted sums, router gates, expert FFNs for the assignments the routers \
        made (slots for soft plans), shared experts and their gates, classifier; 2 FLOPs per \
        multiply-add; biases, norms, GELU, softmax and the optimiser not counted); training = 3 × forward
        """

    /// Builds the model and optimiser of `configuration` as the trainer does, runs `warmup`
    /// untimed and `steps` timed training steps on one synthetic batch, and measures the sgemm
    /// peak first (skipped when `peakSize` is 0); then, unless `replayGEMMs` is false, records the
    /// GEMM calls of one more step and times them alone (``GEMMReplay``). `log` receives progress
    /// lines.
    public static func run(configuration: TrainingConfiguration, steps: Int, warmup: Int,
                           peakSize: Int = 1024, peakRepetitions: Int = 7, replayGEMMs: Bool = true,
                           log: (String) -> Void = { _ in }) throws -> Result {
        precondition(steps >= 1 && warmup >= 0, "need steps ≥ 1 and warmup ≥ 0")
        try ConfigurationResolver.validate(configuration)
        ComputeThreads.count = configuration.threads
        let m = configuration.model, o = configuration.optimizer, batch = configuration.batchSize
        let seed = UInt64(configuration.seed)
        var initRNG = SeededRNG.derived(seed: seed, stream: 1)
        let model = try VisionTransformerModel(configuration: m, rng: &initRNG)
        let parameters = model.parameters
        let optimizer = AdamW(parameters: parameters, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon,
                              weightDecay: o.weightDecay)
        let schedule = LearningRateSchedule(peak: o.learningRate, warmupSteps: o.warmupSteps,
                                            totalSteps: warmup + steps, floor: o.minLearningRate)
        var routingRNG = SeededRNG.derived(seed: seed, stream: 3)
        var dataRNG = SeededRNG.derived(seed: seed, stream: 7)
        let images = Tensor(shape: [batch, m.imageChannels, m.imageSize, m.imageSize])
        dataRNG.fillGaussian(images.pointer, count: images.count)
        let labels = (0..<batch).map { _ in Int32(dataRNG.nextInt(below: m.classes)) }

        var peak: Double?
        if peakSize > 0 {
            log("measuring the sgemm peak (n = \(peakSize), \(configuration.threads) threads)")
            peak = GEMMBenchmark.sgemmPeak(size: peakSize, repetitions: peakRepetitions)
        }

        log("\(warmup) warm-up and \(steps) timed steps of \(m.router), batch \(batch), \(configuration.threads) threads")
        var stepSeconds: [Double] = [], forwardSeconds: [Double] = [], backwardSeconds: [Double] = []
        var updateSeconds: [Double] = []
        var assignments = [Double](repeating: 0, count: m.depth)
        var lastLoss: Float = 0
        // One training step as the trainer takes it; returns its phases' seconds and the loss.
        func trainingStep(_ step: Int) throws -> (forward: Double, backward: Double, update: Double, loss: Float) {
            let t0 = monotonicSeconds()
            optimizer.zeroGradients()
            let context = RoutingContext(training: true, step: step, sharedDraw: routingRNG.next())
            let result = try labels.withUnsafeBufferPointer {
                try model.forward(images: images, labels: $0.baseAddress!, batchSize: batch, context: context, rng: &routingRNG)
            }
            let t1 = monotonicSeconds()
            guard result.loss.isFinite else {
                throw BenchmarkError("step \(step + 1): the loss is \(result.loss); lower optimizer.learningRate")
            }
            model.backward()
            let t2 = monotonicSeconds()
            let norm = GradientClipping.clipGlobalNorm(parameters, maxNorm: o.gradientClip)
            guard norm.isFinite else { throw BenchmarkError("step \(step + 1): the gradient norm is \(norm)") }
            optimizer.update(learningRate: schedule.rate(at: step))
            let t3 = monotonicSeconds()
            return (t1 - t0, t2 - t1, t3 - t2, result.loss)
        }
        for step in 0..<(warmup + steps) {
            let timing = try trainingStep(step)
            lastLoss = timing.loss
            guard step >= warmup else { continue }
            stepSeconds.append(timing.forward + timing.backward + timing.update)
            forwardSeconds.append(timing.forward)
            backwardSeconds.append(timing.backward)
            updateSeconds.append(timing.update)
            for (b, block) in model.blocks.enumerated() {
                let layer = block.feedForward
                assignments[b] += Double(layer.expertRowCount) / Double(max(layer.plan.tokenCount, 1))
            }
        }
        var replay: GEMMReplay?
        if replayGEMMs {
            log("recording the GEMM calls of one more step and replaying them alone")
            let shapes = try GEMMLog.record { _ = try trainingStep(warmup + steps) }
            replay = GEMMReplay.run(shapes)
        }
        assignments = assignments.map { $0 / Double(steps) }
        let flops = ModelFLOPs(model: model, assignmentsPerToken: assignments)
        let medianRate = median(stepSeconds.map { Double(batch) / $0 })
        let meanRate = Double(batch * steps) / stepSeconds.reduce(0, +)
        let gflops = flops.training * medianRate / 1e9
        let resolved = try RouterRegistry.shared.resolvedOptions(name: m.router, options: m.effectiveRouterOptions(),
                                                                 expertCount: m.experts)
        return Result(
            preset: configuration.preset, router: m.router,
            routerOptions: Dictionary(uniqueKeysWithValues: resolved.map { ($0.key, $0.value) }),
            experts: m.experts, batchSize: batch, threads: configuration.threads, blasKernels: BLASKernels.summary,
            warmupSteps: warmup, steps: steps,
            parameterCount: model.parameterCount, medianImagesPerSecond: medianRate, meanImagesPerSecond: meanRate,
            medianStepSeconds: median(stepSeconds), medianForwardSeconds: median(forwardSeconds),
            medianBackwardSeconds: median(backwardSeconds), medianUpdateSeconds: median(updateSeconds),
            assignmentsPerToken: assignments, flopsPerImage: flops, forwardFLOPsPerImage: flops.forward,
            trainingFLOPsPerImage: flops.training, modelGFLOPS: gflops,
            sgemmPeakSize: peak == nil ? 0 : peakSize, sgemmPeakRepetitions: peak == nil ? 0 : peakRepetitions,
            sgemmPeakGFLOPS: peak, shareOfPeak: peak.map { gflops / $0 }, gemmReplay: replay, finalLoss: lastLoss,
            flopConvention: flopConvention,
            data: "synthetic: one seeded batch of N(0, 1) images \(m.imageChannels)×\(m.imageSize)×\(m.imageSize) " +
                "with uniform labels, reused every step (data loading excluded)")
    }
}

/// A benchmark that cannot go on (a non-finite loss, an impossible grid cell).
public struct BenchmarkError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
