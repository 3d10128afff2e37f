import Foundation
import SwitchyardLayers
import SwitchyardParallelism
import SwitchyardRouting
import SwitchyardTensorCore
import SwitchyardTraces
import SwitchyardTraining
import SwitchyardVisionTransformer

/// `switchyard bench train --parallel expert`: expert-parallel training steps on P processes,
/// timed per rank, with what each rank's exchanges cost (``ExchangeMeasurements``).
///
/// Every rank builds the model as the trainer does, takes its B/P images of one synthetic batch
/// (the same seeded batch as ``TrainingBenchmark``), and times each step: forward (with the
/// dispatch and return exchanges), backward (with theirs), and the update (the gradient sums
/// over the ranks, the global norm, AdamW). The job's step time is the slowest rank's; images/s
/// is the batch over the median of those.
public enum ExpertParallelBenchmark {
    /// One rank's numbers, per timed step.
    public struct RankResult: Codable, Sendable {
        /// The rank.
        public var rank: Int
        /// Its images per step.
        public var images: Int
        /// Median seconds of its steps, and of their parts.
        public var medianStepSeconds: Double
        public var medianForwardSeconds: Double
        public var medianBackwardSeconds: Double
        /// Gradient sums over the ranks, global norm and AdamW.
        public var medianUpdateSeconds: Double
        /// Its measurements summed over the timed steps.
        public var total: ExchangeMeasurements
    }

    /// The benchmark's result.
    public struct Result: Codable, Sendable {
        public var preset: String
        public var router: String
        public var experts: Int
        /// Processes P.
        public var processes: Int
        public var batchSize: Int
        /// Compute threads per process.
        public var threads: Int
        public var blasKernels: String
        public var warmupSteps: Int
        public var steps: Int
        /// Batch / median over steps of the slowest rank's step time.
        public var medianImagesPerSecond: Double
        /// Median over steps of the slowest rank's step time.
        public var medianStepSeconds: Double
        /// Every rank.
        public var ranks: [RankResult]

        /// The result as markdown: the headline, then one row per rank.
        public var markdown: String {
            func ms(_ s: Double) -> String { String(format: "%.2f", s * 1e3) }
            let n = Double(steps)
            var lines = [
                "bench train --parallel expert: preset \(preset), router \(router) (\(experts) experts over \(processes) "
                    + "process\(processes == 1 ? "" : "es"), \(experts / max(processes, 1)) each), batch \(batchSize), "
                    + "\(threads) thread\(threads == 1 ? "" : "s") per process, \(steps) timed steps after \(warmupSteps) warm-up",
                "OpenBLAS kernels: \(blasKernels)",
                String(format: "images/s (batch / median step of the slowest rank): %.1f; median step %.2f ms",
                       medianImagesPerSecond, medianStepSeconds * 1e3),
                "",
                "| rank | images/step | step ms | forward ms | backward ms | update ms (sums, norm, AdamW) | experts ms | all-to-all ms | waiting ms | rows sent/step | rows received/step | MB sent/step | MB received/step |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in ranks {
                let t = r.total
                lines.append("| \(r.rank) | \(r.images) | \(ms(r.medianStepSeconds)) | \(ms(r.medianForwardSeconds)) | "
                             + "\(ms(r.medianBackwardSeconds)) | \(ms(r.medianUpdateSeconds)) | \(ms(t.expertSeconds / n)) | "
                             + "\(ms(t.exchangeSeconds / n)) | \(ms(t.waitSeconds / n)) | "
                             + String(format: "%.0f | %.0f | %.3f | %.3f |", Double(t.tokensSent) / n, Double(t.tokensReceived) / n,
                                      Double(t.bytesSent) / n / 1e6, Double(t.bytesReceived) / n / 1e6))
            }
            lines.append("")
            lines.append("Rows and bytes cross between processes only (rows a process keeps for its own experts are "
                         + "copied, not sent); each step sends every remote row four times: dispatch and return, forward "
                         + "and backward. Waiting is the time in the count exchanges that open each exchange: the wait for "
                         + "the slowest rank.")
            return lines.joined(separator: "\n")
        }
    }

    /// Runs `warmup` untimed and `steps` timed expert-parallel steps on every rank of
    /// `communicator` (every rank must call it); rank 0's `log` gets progress lines. With
    /// `traceFile`, rank 0 writes the routing of every timed step (all ranks' groups, gathered
    /// after the step's timing) there, for `switchyard simulate --training`.
    public static func run(configuration: TrainingConfiguration, communicator: any Communicator, steps: Int, warmup: Int,
                           traceFile: String? = nil, log: (String) -> Void = { _ in }) throws -> Result {
        precondition(steps >= 1 && warmup >= 0, "need steps ≥ 1 and warmup ≥ 0")
        var configuration = configuration
        if (configuration.model.routingGroupImages ?? 0) == 0 {
            configuration.model.routingGroupImages = max(1, configuration.batchSize / communicator.size)
        }
        try ConfigurationResolver.validate(configuration)
        ComputeThreads.count = configuration.threads
        let m = configuration.model, o = configuration.optimizer, batch = configuration.batchSize
        let seed = UInt64(configuration.seed)
        var initRNG = SeededRNG.derived(seed: seed, stream: 1)
        let model = try VisionTransformerModel(configuration: m, rng: &initRNG)
        let parallel = try ExpertParallelTraining(communicator: communicator, model: model, configuration: configuration)
        let parameters = model.parameters
        let optimizer = AdamW(parameters: parallel.localParameters, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon,
                              weightDecay: o.weightDecay)
        let schedule = LearningRateSchedule(peak: o.learningRate, warmupSteps: o.warmupSteps,
                                            totalSteps: warmup + steps, floor: o.minLearningRate)
        var routingRNG = SeededRNG.derived(seed: seed, stream: 3)
        var dataRNG = SeededRNG.derived(seed: seed, stream: 7)
        let images = Tensor(shape: [batch, m.imageChannels, m.imageSize, m.imageSize])
        dataRNG.fillGaussian(images.pointer, count: images.count)
        let labels = (0..<batch).map { _ in Int32(dataRNG.nextInt(below: m.classes)) }
        let local = parallel.takeShare(of: images, labels: labels, count: batch)
        model.loss.gradientDenominator = batch
        if parallel.isWriter {
            log("\(warmup) warm-up and \(steps) timed steps of \(m.router), batch \(batch) over \(communicator.size) processes")
        }
        let moe = model.moeLayers
        let recorder = traceFile.map { _ in
            TraceRecorder(tokensPerImage: m.tokensPerImage, expertCount: moe.first?.layer.experts.count ?? 1,
                          layerIndices: moe.map(\.block), keepProbabilities: false, imagesPerGroup: parallel.share)
        }
        var parts: [[Double]] = []   // per timed step: forward, backward, update
        for step in 0..<(warmup + steps) {
            if step == warmup { _ = parallel.gatherMeasurements() }
            let t0 = monotonicSeconds()
            optimizer.zeroGradients()
            let context = RoutingContext(training: true, step: step, sharedDraw: routingRNG.next())
            var tokenRNG = parallel.tokenGenerator(seed: configuration.seed, step: step)
            let result = try parallel.labels.withUnsafeBufferPointer {
                try model.forward(images: parallel.images, labels: $0.baseAddress!, batchSize: local, context: context, rng: &tokenRNG)
            }
            let loss = parallel.combine(result, localImages: local, batchImages: batch).loss   // as the trainer does
            let t1 = monotonicSeconds()
            model.backward()
            let t2 = monotonicSeconds()
            parallel.reduceGradients()
            let norm = parallel.globalNorm(parameters)
            GradientClipping.clip(optimizer.parameters, norm: norm, maxNorm: o.gradientClip)
            optimizer.update(learningRate: schedule.rate(at: step))
            let t3 = monotonicSeconds()
            guard loss.isFinite, norm.isFinite else {
                throw BenchmarkError("step \(step + 1): the loss is \(loss) and the gradient norm \(norm); lower optimizer.learningRate")
            }
            if step >= warmup {
                parts.append([t1 - t0, t2 - t1, t3 - t2])
                if let recorder, let plans = parallel.gatherPlans(moe.map(\.layer.plan)) {
                    recorder.record(labels: labels[...], plans: plans)
                }
            }
        }
        if let traceFile, let recorder, parallel.isWriter {
            let trace = recorder.trace(classCount: m.classes, classNames: (0..<m.classes).map { "class \($0)" }, metadata: [
                "router": m.router, "preset": configuration.preset, "seed": String(configuration.seed),
                "source": "bench train --parallel expert: the timed steps' routing of one synthetic batch",
                "expertParallelProcesses": String(communicator.size)])
            try RoutingTraceFile.write(trace, to: traceFile)
        }
        let totals = parallel.gatherMeasurements()
        let perRank = parts.flatMap { $0 }
        var all = [Double](repeating: 0, count: perRank.count * communicator.size)
        perRank.withUnsafeBufferPointer { p in all.withUnsafeMutableBufferPointer { communicator.allGather(p.baseAddress!, count: p.count, into: $0.baseAddress!) } }
        let imagesPerRank = communicator.allGather(Double(local)).map { Int($0) }
        func part(_ r: Int, _ s: Int, _ k: Int) -> Double { all[r * perRank.count + s * 3 + k] }
        let ranks = (0..<communicator.size).map { r in
            RankResult(rank: r, images: imagesPerRank[r],
                       medianStepSeconds: median((0..<steps).map { s in part(r, s, 0) + part(r, s, 1) + part(r, s, 2) }),
                       medianForwardSeconds: median((0..<steps).map { part(r, $0, 0) }),
                       medianBackwardSeconds: median((0..<steps).map { part(r, $0, 1) }),
                       medianUpdateSeconds: median((0..<steps).map { part(r, $0, 2) }), total: totals[r])
        }
        let slowest = (0..<steps).map { s in (0..<communicator.size).map { part($0, s, 0) + part($0, s, 1) + part($0, s, 2) }.max() ?? 0 }
        let step = median(slowest)
        return Result(preset: configuration.preset, router: m.router, experts: m.experts, processes: communicator.size,
                      batchSize: batch, threads: configuration.threads, blasKernels: BLASKernels.summary,
                      warmupSteps: warmup, steps: steps, medianImagesPerSecond: Double(batch) / step,
                      medianStepSeconds: step, ranks: ranks)
    }
}
