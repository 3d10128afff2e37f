import SwitchyardDatasets
import SwitchyardFileIO
import Foundation
import SwitchyardLayers
import SwitchyardParallelism
import SwitchyardRouting
import SwitchyardTensorCore
import SwitchyardTraces
import SwitchyardVisionTransformer

/// Trains a Vision Transformer with MoE blocks and writes a run directory:
///
/// | file | what |
/// |---|---|
/// | `config.json` | the resolved configuration |
/// | `metrics.jsonl` | one ``StepRecord`` every `logEvery` steps |
/// | `epochs.jsonl` | one ``EpochRecord`` per epoch (test accuracy, per-class accuracy) |
/// | `checkpoints/epoch-N.ckpt` | parameters, AdamW moments, generator states after epoch N |
/// | `checkpoints/interrupted.ckpt` | the same, mid-epoch, written when SIGINT or SIGTERM stops the run |
/// | `traces/epoch-N.sytrace` | the routing of every test token after epoch N |
/// | `summary.json` | the ``RunSummary`` when training ends |
///
/// Same configuration (seed and threads included) → same numbers; `resume` continues from the
/// newest checkpoint (an epoch's, or the one an interrupted run wrote) and reproduces the
/// uninterrupted run bit for bit.
public final class Trainer {
    /// The run's configuration.
    public let configuration: TrainingConfiguration
    /// Where the run's files go.
    public let runDirectory: String
    /// The model.
    public let model: VisionTransformerModel
    /// The training images.
    public let trainSet: ImageDataset
    /// The test images.
    public let testSet: ImageDataset
    private let optimizer: AdamW
    /// The model's parameters, in model order (the optimiser's, without expert parallelism).
    let parameters: [Parameter]
    /// Expert parallelism's side, or nil for a single process.
    let parallel: ExpertParallelTraining?
    private let trainLoader: BatchLoader
    private let testLoader: BatchLoader
    private let schedule: LearningRateSchedule
    private var routingRNG: SeededRNG
    private var epoch = 0
    private var step = 0
    private var trainSeconds = 0.0
    /// The running totals of the epoch in progress (restored from an interrupted checkpoint).
    private var partial = EpochTotals()
    private let interrupt = InterruptRequest()
    private let registry: RouterRegistry
    /// Steps skipped because the loss or a gradient was not finite (policy `skip`).
    public private(set) var skippedSteps = 0
    private let progress: ProgressReporter
    private let images: Tensor
    private var labels: [Int32]
    /// `expert-parallel.jsonl` while an expert-parallel run writes it (rank 0).
    private var exchanges: MetricsLog?

    /// Prepares a run: loads the data, builds the model with routers from `registry`, and (with
    /// `resume`) restores the newest checkpoint of `runDirectory`. Nothing is written until ``run()``.
    /// With a `communicator` of P processes the run is expert-parallel (docs/expert-parallel.md):
    /// every process calls this and ``run()``; rank 0 alone prints and writes the run directory.
    public init(configuration: TrainingConfiguration, runDirectory: String, resume: Bool = false,
                quiet: Bool = false, registry: RouterRegistry = .shared, communicator: (any Communicator)? = nil) throws {
        try configuration.validate()
        self.configuration = configuration
        self.runDirectory = runDirectory
        ComputeThreads.count = configuration.threads
        let data = configuration.data
        var train = try DatasetLocator.load(name: data.dataset, directory: data.directory, split: .train)
        var test = try DatasetLocator.load(name: data.dataset, directory: data.directory, split: .test)
        if data.trainLimit > 0 { train = train.prefix(data.trainLimit) }
        if data.testLimit > 0 { test = test.prefix(data.testLimit) }
        let m = configuration.model
        guard train.channels == m.imageChannels, train.height == m.imageSize, train.width == m.imageSize else {
            throw InputError(location: "model", message: """
                the model expects \(m.imageChannels)×\(m.imageSize)×\(m.imageSize) images but \(train.name) has \
                \(train.channels)×\(train.height)×\(train.width); set model.imageChannels and model.imageSize
                """)
        }
        guard train.classNames.count == m.classes else {
            throw InputError(location: "model.classes", message: "\(m.classes), but \(train.name) has \(train.classNames.count) classes")
        }
        trainSet = train
        testSet = test
        let seed = UInt64(configuration.seed)
        var loaderSeedRNG = SeededRNG.derived(seed: seed, stream: 2)
        var initRNG = SeededRNG.derived(seed: seed, stream: 1)
        model = try VisionTransformerModel(configuration: m, registry: registry, rng: &initRNG)
        self.registry = registry
        parameters = model.parameters
        let built = model
        parallel = try communicator.map { try ExpertParallelTraining(communicator: $0, model: built, configuration: configuration) }
        let o = configuration.optimizer
        optimizer = AdamW(parameters: parallel?.localParameters ?? parameters, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon, weightDecay: o.weightDecay)
        trainLoader = BatchLoader(dataset: train, batchSize: configuration.batchSize,
                                  augmentation: Augmentation(cropPadding: data.cropPadding, horizontalFlip: data.flip),
                                  shuffle: true, seed: loaderSeedRNG.next())
        testLoader = BatchLoader(dataset: test, batchSize: configuration.batchSize, shuffle: false)
        schedule = LearningRateSchedule(peak: o.learningRate, warmupSteps: o.warmupSteps,
                                        totalSteps: trainLoader.batchCount * configuration.epochs, floor: o.minLearningRate)
        routingRNG = SeededRNG.derived(seed: seed, stream: 3)
        images = Tensor(shape: [configuration.batchSize, m.imageChannels, m.imageSize, m.imageSize])
        labels = [Int32](repeating: 0, count: configuration.batchSize)
        progress = ProgressReporter(totalSteps: trainLoader.batchCount * configuration.epochs,
                                    quiet: quiet || !(parallel?.isWriter ?? true))
        if resume { try restoreNewestCheckpoint() }
    }

    /// Running totals of an epoch, kept in interrupted checkpoints.
    struct EpochTotals {
        var lossSum = 0.0
        var correct = 0
        var seen = 0
        var seconds = 0.0
    }

    /// Path of a file inside the run directory.
    func path(_ name: String) -> String { (runDirectory as NSString).appendingPathComponent(name) }

    /// Trains the remaining epochs, evaluating, tracing and checkpointing after each, and
    /// returns the summary (also written to `summary.json`).
    @discardableResult
    public func run() throws -> RunSummary {
        // Under expert parallelism rank 0 alone writes the run directory.
        let writer = parallel?.isWriter ?? true
        let lock = writer ? try RunDirectoryLock(directory: runDirectory) : nil
        defer { lock?.release() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if writer { try AtomicFile.write(encoder.encode(configuration), to: path("config.json")) }
        let metrics = writer ? try MetricsLog(path: path("metrics.jsonl"), keepingStepsUpTo: step) : nil
        let epochs = writer ? try MetricsLog(path: path("epochs.jsonl"), keepingStepsUpTo: step) : nil
        exchanges = writer && parallel != nil ? try MetricsLog(path: path("expert-parallel.jsonl"), keepingStepsUpTo: step) : nil
        defer { exchanges = nil }
        if epoch == 0 {
            progress.message("training \(configuration.model.router) on \(trainSet.name): \(trainSet.count) images, " +
                             "\(model.parameterCount) parameters, \(configuration.epochs) epochs of \(trainLoader.batchCount) steps")
        } else {
            progress.message("resuming after epoch \(epoch) (step \(step))")
        }
        var lastRecord: EpochRecord?
        interrupt.install()
        defer { interrupt.uninstall() }
        while epoch < configuration.epochs {
            lastRecord = try trainEpoch(metrics: metrics, epochs: epochs)
        }
        parallel?.communicator.barrier()   // rank 0 has written the last epoch's record
        // The other processes read it only when they trained no epoch (resuming a finished run).
        let records = writer || lastRecord == nil ? try MetricsLog.read(EpochRecord.self, from: path("epochs.jsonl")) : []
        guard let final = lastRecord ?? records.last else {
            throw InputError(file: path("epochs.jsonl"), message: "holds no epoch record although \(epoch) epochs are done")
        }
        let router = configuration.model.router
        let resolved = try registry.resolvedOptions(name: router, options: configuration.model.effectiveRouterOptions(registry: registry),
                                                                 expertCount: configuration.model.experts)
        let totalImages = Double(step) * Double(configuration.batchSize)
        let summary = RunSummary(
            router: router, routerOptions: Dictionary(uniqueKeysWithValues: resolved.map { ($0.key, $0.value) }),
            preset: configuration.preset, seed: configuration.seed, epochs: epoch, steps: step,
            testAccuracy: final.testAccuracy, perClassAccuracy: final.perClassAccuracy, classNames: testSet.classNames,
            parameterCount: model.parameterCount, evaluationParameterCount: model.evaluationParameterCount,
            trainSeconds: trainSeconds, imagesPerSecond: trainSeconds > 0 ? totalImages / trainSeconds : 0,
            threads: configuration.threads, blasKernels: BLASKernels.summary,
            routerState: routerStates.isEmpty ? nil : Dictionary(routerStates.map { ($0.name, $0.state.values) }) { a, _ in a },
            routerTraits: model.moeLayers.first?.layer.router.traits.metadata,
            routingRecord: model.moeLayers.first?.layer.router.traits.soft == true ? RoutingPlan.softRecordRule : nil,
            peakMemoryMiB: PeakMemory.residentBytes().map { Double($0) / 1_048_576 })
        if writer { try AtomicFile.write(encoder.encode(summary), to: path("summary.json")) }
        progress.message(String(format: "test accuracy %.2f%% after %d epochs; run written to %@",
                                final.testAccuracy * 100, epoch, runDirectory))
        return summary
    }

    /// Trains one epoch (the rest of it, after an interrupted checkpoint), evaluates, writes the
    /// trace, appends the epoch record and then the checkpoint: a run killed in between resumes
    /// from the previous checkpoint and rewrites the record.
    private func trainEpoch(metrics: MetricsLog?, epochs: MetricsLog?) throws -> EpochRecord {
        trainLoader.startEpoch(epoch)
        let start = monotonicSeconds()
        var windowStart = start, windowImages = 0, windowSteps = 0, windowLocalImages = 0
        // A run resumed from an interrupted checkpoint starts in the middle of the epoch.
        let firstBatch = step - epoch * trainLoader.batchCount
        var totals = partial
        partial = EpochTotals()
        let moe = model.moeLayers.map(\.layer)
        for b in firstBatch..<trainLoader.batchCount {
            let n = labels.withUnsafeMutableBufferPointer { trainLoader.fill(batch: b, images: images, labels: $0.baseAddress!) }
            optimizer.zeroGradients()
            let context = RoutingContext(training: true, step: step, totalSteps: configuration.epochs * trainLoader.batchCount,
                                         sharedDraw: routingRNG.next())
            var result: VisionTransformerModel.BatchResult
            var local = n   // the images this process ran
            if let parallel {
                // This rank's images; per-token draws from a stream of the rank and step.
                local = parallel.takeShare(of: images, labels: labels, count: n)
                windowLocalImages += local
                model.loss.gradientDenominator = n
                var tokenRNG = parallel.tokenGenerator(seed: configuration.seed, step: step)
                let mine = try parallel.labels.withUnsafeBufferPointer {
                    try model.forward(images: parallel.images, labels: $0.baseAddress!, batchSize: local, context: context,
                                      rng: &tokenRNG)
                }
                result = parallel.combine(mine, localImages: local, batchImages: n)
            } else {
                result = try labels.withUnsafeBufferPointer {
                    try model.forward(images: images, labels: $0.baseAddress!, batchSize: n, context: context, rng: &routingRNG)
                }
            }
            var problem: String?
            if !result.loss.isFinite {
                problem = "the loss is \(result.loss) (cross-entropy \(result.crossEntropy), auxiliary \(result.auxiliaryLoss)); "
                    + "the first non-finite value is in \(firstNonFiniteActivation(batch: local))"
                    + (parallel.map { " (as process \($0.rank) of \($0.ranks) sees its \(local) images)" } ?? "")
            }
            var norm: Float = 0
            if problem == nil {
                model.backward()
                if let parallel {
                    parallel.reduceGradients()
                    norm = parallel.globalNorm(parameters)
                    GradientClipping.clip(optimizer.parameters, norm: norm, maxNorm: configuration.optimizer.gradientClip)
                } else {
                    norm = GradientClipping.clipGlobalNorm(parameters, maxNorm: configuration.optimizer.gradientClip)
                }
                if !norm.isFinite {
                    let bad = optimizer.parameters.first { p in !sum(p.gradient.pointer, count: p.count).isFinite }?.name ?? "?"
                    problem = "the gradient of \(bad) is not finite"
                }
            }
            let lr = schedule.rate(at: step)
            if let problem {
                guard configuration.nonFinite == .skip else {
                    throw InputError(location: "step \(step + 1)", message: problem + "; training stopped, the last "
                                     + "checkpoint is intact. Try a lower optimizer.learningRate, optimizer.gradientClip, "
                                     + "or --on-non-finite skip")
                }
                skippedSteps += 1
                progress.message("step \(step + 1) skipped: \(problem)")
            }
            // Loads, drops and tokens of the step (under expert parallelism summed over the ranks,
            // with the processes' agreement on a stop signal received so far).
            let summed = parallel?.globalFacts(moe, stopRequested: interrupt.received != nil)
            let facts = summed?.facts ?? moe.enumerated().map { LayerRoutingFacts(layer: $0.offset, plan: $0.element.plan) }
            if problem == nil {
                optimizer.update(learningRate: lr)
                afterStep(facts: facts, layers: moe)
            }
            step += 1
            if problem == nil {
                totals.lossSum += Double(result.loss) * Double(n)
                totals.correct += result.correct
            }
            totals.seen += n
            windowImages += n
            windowSteps += 1
            if step % configuration.logEvery == 0 || b == trainLoader.batchCount - 1 {
                let now = monotonicSeconds()
                let rate = Double(windowImages) / max(now - windowStart, 1e-9)
                try metrics?.append(stepRecord(result: result, lr: lr, norm: norm, rate: rate, facts: facts, layers: moe))
                if let parallel {
                    let record = ExpertParallelRecord(step: step, epoch: epoch, phase: "train", batches: windowSteps,
                                                      images: parallel.gatherImages(windowLocalImages),
                                                      ranks: parallel.gatherMeasurements())
                    try exchanges?.append(record)
                    windowLocalImages = 0
                }
                windowSteps = 0
                progress.update(step: step, epoch: epoch, loss: result.loss, imagesPerSecond: rate,
                                stepsThisRun: step)
                windowStart = now
                windowImages = 0
            }
            // One process stops when it received a signal during the step; expert-parallel
            // processes stop together after the step in which any of them had one.
            let stopSignal = summed.map { $0.stop ? interrupt.received ?? SIGTERM : nil } ?? interrupt.received
            if let signal = stopSignal {
                totals.seconds += monotonicSeconds() - start
                trainSeconds += monotonicSeconds() - start
                partial = totals
                let written = try writeCheckpoint(name: "interrupted")
                progress.message("interrupted after step \(step): checkpoint \(written); continue with --resume")
                throw TrainingInterrupted(step: step, checkpoint: written, signal: signal)
            }
        }
        let lossSum = totals.lossSum, correct = totals.correct, seen = totals.seen
        let epochSeconds = totals.seconds + monotonicSeconds() - start
        trainSeconds += monotonicSeconds() - start
        epoch += 1
        let evalStart = monotonicSeconds()
        let evaluation = try evaluate(recordTrace: configuration.traces)
        var tracePath: String?
        if configuration.traces {
            tracePath = "traces/epoch-\(epoch).sytrace"
            if let trace = evaluation.trace { try RoutingTraceFile.write(trace, to: path(tracePath!)) }
        }
        let record = EpochRecord(
            epoch: epoch, step: step, trainLoss: Float(lossSum / Double(max(seen, 1))),
            trainAccuracy: Float(correct) / Float(max(seen, 1)), testLoss: evaluation.loss,
            testAccuracy: evaluation.accuracy, perClassAccuracy: evaluation.perClass, trainSeconds: epochSeconds,
            evaluationSeconds: monotonicSeconds() - evalStart, imagesPerSecond: Double(seen) / max(epochSeconds, 1e-9),
            trace: tracePath)
        try epochs?.append(record)
        if let measured = evaluation.expertParallel { try exchanges?.append(measured) }
        try writeCheckpoint(name: "epoch-\(epoch)")
        // An interrupted checkpoint from earlier in this epoch is now stale.
        if parallel?.isWriter ?? true { try? FileManager.default.removeItem(atPath: path("checkpoints/interrupted.ckpt")) }
        progress.message(String(format: "epoch %d: train loss %.4f, test accuracy %.2f%%, %.0f img/s",
                                epoch, record.trainLoss, record.testAccuracy * 100, record.imagesPerSecond))
        return record
    }

    private func stepRecord(result: VisionTransformerModel.BatchResult, lr: Float, norm: Float, rate: Double,
                            facts: [LayerRoutingFacts], layers: [MoELayer]) -> StepRecord {
        var perExpert: [[Int]] = [], dropped: [Int] = [], cv: [Float] = []
        for fact in facts {   // a soft plan's record: one expert per token
            let loads = fact.tokensPerExpert
            perExpert.append(loads)
            dropped.append(fact.droppedTokens)
            let mean = Double(loads.reduce(0, +)) / Double(max(loads.count, 1))
            let variance = loads.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(max(loads.count, 1))
            cv.append(mean > 0 ? Float(variance.squareRoot() / mean) : 0)
        }
        let terms = layers.map { Dictionary($0.plan.auxiliaryTerms.map { ($0.name, $0.value) }) { a, _ in a } }
        let scalars = layers.map { layer in
            Dictionary((layer.plan.scalars + layer.router.state.flatMap(RouterStateSummary.scalars)).map { ($0.name, $0.value) }) { a, _ in a }
        }
        return StepRecord(step: step, epoch: epoch, loss: result.loss, crossEntropy: result.crossEntropy,
                          auxiliaryLoss: result.auxiliaryLoss, learningRate: lr, gradientNorm: norm,
                          imagesPerSecond: rate, tokensPerExpert: perExpert, droppedTokens: dropped, loadCV: cv,
                          auxiliaryTerms: terms.allSatisfy(\.isEmpty) ? nil : terms,
                          routerScalars: scalars.allSatisfy(\.isEmpty) ? nil : scalars)
    }

    /// Test-set evaluation: loss, accuracy, per-class accuracy and (optionally) the trace.
    public struct Evaluation {
        /// Mean cross-entropy.
        public var loss: Float
        /// Accuracy.
        public var accuracy: Float
        /// Accuracy per class.
        public var perClass: [Float]
        /// The routing of every test token, when recorded.
        public var trace: RoutingTrace?
        /// Under expert parallelism, what the evaluation's exchanges cost on each rank.
        public var expertParallel: ExpertParallelRecord?
    }

    /// Evaluates the model on the test set in evaluation mode (no noise, evaluation capacity,
    /// averaged experts for random-batch routing).
    public func evaluate(recordTrace: Bool) throws -> Evaluation {
        let t = configuration.model.tokensPerImage, classes = configuration.model.classes
        let moe = model.moeLayers
        let recorder = recordTrace ? TraceRecorder(tokensPerImage: t, expertCount: moe.first?.layer.experts.count ?? 1,
                                                   layerIndices: moe.map(\.block), keepProbabilities: true,
                                                   imagesPerGroup: configuration.model.routingGroupImages ?? 0) : nil
        var evalRNG = SeededRNG.derived(seed: UInt64(configuration.seed), stream: 1000 + UInt64(epoch))
        var lossSum = 0.0, correct = 0
        var classTotal = [Int](repeating: 0, count: classes), classCorrect = classTotal
        _ = parallel?.gatherMeasurements()   // the training's since the last record are not the evaluation's
        var localImages = 0
        for b in 0..<testLoader.batchCount {
            let n = labels.withUnsafeMutableBufferPointer { testLoader.fill(batch: b, images: images, labels: $0.baseAddress!) }
            let context = RoutingContext(training: false, step: step, totalSteps: configuration.epochs * trainLoader.batchCount,
                                         sharedDraw: 0)
            // Under expert parallelism each rank evaluates its share of the batch.
            let local = parallel?.takeShare(of: images, labels: labels, count: n) ?? n
            let localLabels = parallel?.labels ?? labels
            localImages += local
            let result = try localLabels.withUnsafeBufferPointer {
                try model.forward(images: parallel?.images ?? images, labels: $0.baseAddress!, batchSize: local,
                                  context: context, rng: &evalRNG)
            }
            lossSum += Double(result.crossEntropy) * Double(local)
            correct += result.correct
            let logits = model.logits
            for i in 0..<local {
                let row = logits + i * classes
                var best = 0
                for j in 1..<classes where row[j] > row[best] { best = j }
                let y = Int(localLabels[i])
                classTotal[y] += 1
                if best == y { classCorrect[y] += 1 }
            }
            if let recorder {
                if let parallel {
                    if let plans = parallel.gatherPlans(moe.map(\.layer.plan)) { recorder.record(labels: labels[0..<n], plans: plans) }
                } else {
                    recorder.record(labels: labels[0..<n], plans: moe.map(\.layer.plan))
                }
            }
        }
        var measured: ExpertParallelRecord?
        if let parallel {
            measured = ExpertParallelRecord(step: step, epoch: epoch, phase: "evaluation", batches: testLoader.batchCount,
                                            images: parallel.gatherImages(localImages), ranks: parallel.gatherMeasurements())
            var sums = [lossSum]
            parallel.communicator.allReduceSum(&sums)
            lossSum = sums[0]
            var counts = [correct] + classTotal + classCorrect
            parallel.communicator.allReduceSum(&counts)
            correct = counts[0]
            classTotal = Array(counts[1 ... classes])
            classCorrect = Array(counts[(classes + 1)...])
        }
        var metadata = [
            "router": configuration.model.router, "epoch": String(epoch), "step": String(step),
            "dataset": testSet.name, "seed": String(configuration.seed), "preset": configuration.preset,
        ]
        if let router = moe.first?.layer.router { metadata.merge(router.traits.metadata) { $1 } }
        if let parallel { metadata["expertParallelProcesses"] = String(parallel.ranks) }
        if configuration.model.sharedExpertCount > 0 {
            metadata[RoutingTrace.sharedExpertCountKey] = String(configuration.model.sharedExpertCount)
            metadata[RoutingTrace.sharedExpertGateKey] = configuration.model.sharedExpertGate ?? SharedExpertGate.none.rawValue
        }
        let trace = parallel?.isWriter == false ? nil : recorder?.trace(classCount: classes, classNames: testSet.classNames, metadata: metadata)
        return Evaluation(loss: Float(lossSum / Double(max(testSet.count, 1))),
                          accuracy: Float(correct) / Float(max(testSet.count, 1)),
                          perClass: zip(classCorrect, classTotal).map { $1 > 0 ? Float($0) / Float($1) : 0 },
                          trace: trace, expertParallel: measured)
    }

    // MARK: Checkpoints

    /// Where the first non-finite activation of the last forward is: "block N", "the router of
    /// block N" or "the classifier".
    private func firstNonFiniteActivation(batch: Int) -> String {
        let rows = batch * configuration.model.tokensPerImage
        for (b, block) in model.blocks.enumerated() {
            if !sum(block.output.pointer, count: rows * configuration.model.width).isFinite {
                return block.feedForward.plan.auxiliaryLoss.isFinite ? "block \(b) (its attention or feed-forward output)"
                    : "the router of block \(b) (its auxiliary loss is \(block.feedForward.plan.auxiliaryLoss))"
            }
            if !block.feedForward.plan.auxiliaryLoss.isFinite {
                return "the router of block \(b) (its auxiliary loss is \(block.feedForward.plan.auxiliaryLoss))"
            }
        }
        return "the classifier (final norm, head or cross-entropy)"
    }

    /// The routers' after-step hook: every MoE layer's facts to every MoE layer's router, after
    /// the optimiser's update of a step that was not skipped.
    private func afterStep(facts: [LayerRoutingFacts], layers: [MoELayer]) {
        for (i, layer) in layers.enumerated() {
            layer.router.afterStep(RoutingStepFacts(step: step, layer: facts[i], allLayers: facts))
        }
    }

    /// The optimiser's index of model parameter `i`, or nil when another process updates it.
    private func optimizerIndex(ofParameter i: Int) -> Int? {
        guard let parallel else { return i }
        return parallel.optimizerIndex[i]
    }

    /// Every router state of the model with its checkpoint name
    /// (`blocks.B.feedForward.router.state.NAME`).
    private var routerStates: [(name: String, state: RouterState)] {
        model.moeLayers.flatMap { block, layer in
            layer.router.state.map { ("blocks.\(block).feedForward.router.state.\($0.name)", $0) }
        }
    }

    /// Writes `checkpoints/NAME.ckpt` and returns its path.
    @discardableResult
    private func writeCheckpoint(name: String) throws -> String {
        var entries: [Checkpoint.ArrayEntry] = [], arrays: [[Float]] = []
        for (i, p) in parameters.enumerated() {
            var state = [p.value.array] + (optimizerIndex(ofParameter: i).map { [optimizer.firstMoments[$0].array, optimizer.secondMoments[$0].array] }
                                           ?? [[Float](repeating: 0, count: p.count), [Float](repeating: 0, count: p.count)])
            // Under expert parallelism an expert's weights and moments come from its owner.
            if let parallel, let owner = parallel.owners[i] {
                for k in state.indices { state[k].withUnsafeMutableBufferPointer { parallel.communicator.broadcast($0.baseAddress!, count: $0.count, root: owner) } }
            }
            for (name, values) in zip([p.name, "adam.m.\(p.name)", "adam.v.\(p.name)"], state) {
                entries.append(.init(name: name, count: p.count))
                arrays.append(values)
            }
        }
        for (name, state) in routerStates {
            entries.append(.init(name: name, count: state.count))
            arrays.append(state.values)
        }
        let header = Checkpoint.Header(configuration: configuration, epoch: epoch, step: step,
                                       generators: ["routing": routingRNG.state], arrays: entries,
                                       counters: ["trainSeconds": trainSeconds, "adamStep": Double(optimizer.step),
                                                  "epochLossSum": partial.lossSum, "epochCorrect": Double(partial.correct),
                                                  "epochSeen": Double(partial.seen), "epochSeconds": partial.seconds,
                                                  "skippedSteps": Double(skippedSteps)])
        let file = path("checkpoints/\(name).ckpt")
        if parallel?.isWriter ?? true { try Checkpoint(header: header, arrays: arrays).write(to: file) }
        parallel?.communicator.barrier()
        return file
    }

    /// The checkpoints of a run directory, newest last.
    public static func checkpoints(in runDirectory: String) -> [(epoch: Int, path: String)] {
        let dir = (runDirectory as NSString).appendingPathComponent("checkpoints")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".ckpt"),
                  let n = Int(name.dropFirst(6).dropLast(5)) else { return nil }
            return (n, (dir as NSString).appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// Restores the intact checkpoint with the most steps whose epochs `epochs.jsonl` records:
    /// the newest epoch checkpoint or the one an interrupted run wrote. A corrupt checkpoint, or
    /// one ahead of the epoch log (an emptied or deleted `epochs.jsonl`), is skipped with a
    /// warning for the next older one; retraining from there reproduces the skipped epochs bit
    /// for bit. With none (a run stopped before its first checkpoint), the run starts from the
    /// beginning.
    private func restoreNewestCheckpoint() throws {
        let recorded = Trainer.recordedEpochs(in: path("epochs.jsonl"))
        let interrupted = path("checkpoints/interrupted.ckpt")
        var candidates = Trainer.checkpoints(in: runDirectory).reversed().map(\.path)
        if FileManager.default.fileExists(atPath: interrupted) { candidates.insert(interrupted, at: 0) }
        guard !candidates.isEmpty else {
            progress.message("--resume: no checkpoint in \(runDirectory) yet; starting from the beginning")
            return
        }
        var best: (path: String, checkpoint: Checkpoint)?
        for candidate in candidates {
            let checkpoint: Checkpoint
            do { checkpoint = try Checkpoint.read(candidate) } catch {
                progress.warning("--resume: \(error); using an older checkpoint")
                continue
            }
            guard checkpoint.header.epoch <= recorded else {
                progress.warning("--resume: \(candidate) is after epoch \(checkpoint.header.epoch) but epochs.jsonl records "
                                 + "\(recorded == 0 ? "no epoch" : "epochs 1…\(recorded) only"); using an older checkpoint "
                                 + "(the epochs after it are trained again, to the same numbers)")
                continue
            }
            if best == nil || checkpoint.header.step > best!.checkpoint.header.step { best = (candidate, checkpoint) }
            if candidate != interrupted { break }   // epoch checkpoints come newest first
        }
        guard let best else {
            progress.warning("--resume: no usable checkpoint in \(runDirectory); starting from the beginning")
            return
        }
        try restore(best.checkpoint, from: best.path)
    }

    /// How many epochs `epochs.jsonl` records, 1, 2, … without a gap (0 if it is missing or
    /// empty). Unreadable lines count as missing, as a resumed run drops them.
    public static func recordedEpochs(in file: String) -> Int {
        guard let data = FileManager.default.contents(atPath: file) else { return 0 }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let epochs = Set(data.split(separator: 0x0A).compactMap { try? decoder.decode(EpochRecord.self, from: $0).epoch })
        var n = 0
        while epochs.contains(n + 1) { n += 1 }
        return n
    }

    /// Restores parameters, optimiser state, generators and counters from a checkpoint written
    /// by a run with the same configuration.
    /// With `ignoringDataDirectory`, a checkpoint whose run read its data from elsewhere is
    /// accepted (evaluating on another machine).
    public func restore(from checkpointPath: String, ignoringDataDirectory: Bool = false) throws {
        try restore(Checkpoint.read(checkpointPath), from: checkpointPath, ignoringDataDirectory: ignoringDataDirectory)
    }

    private func restore(_ checkpoint: Checkpoint, from checkpointPath: String, ignoringDataDirectory: Bool = false) throws {
        var saved = checkpoint.header.configuration
        if ignoringDataDirectory { saved.data.directory = configuration.data.directory }
        let savedEpochs = saved.epochs
        saved.epochs = configuration.epochs
        guard saved == configuration else {
            let fields = RunDirectorySetup.differences(saved, configuration)
            throw InputError(file: checkpointPath, location: "header.configuration", message: """
                the checkpoint was written by a run with a different configuration \
                (\(fields.joined(separator: ", "))); resume with the run's own settings
                """)
        }
        // Everything is checked before the model is touched.
        let header = checkpoint.header
        if savedEpochs != configuration.epochs {
            try checkEpochChange(from: savedEpochs, header: header)
        }
        guard (0...configuration.epochs).contains(header.epoch) else {
            throw InputError(file: checkpointPath, location: "header.epoch",
                             message: "\(header.epoch) epochs completed, expected 0…\(configuration.epochs) (the run's epochs)")
        }
        guard header.step >= 0 else {
            throw InputError(file: checkpointPath, location: "header.step", message: "\(header.step) steps completed is negative")
        }
        let counters = header.counters
        // Counters are JSON numbers: a corrupt or edited file must not trap converting them.
        func count(_ name: String, default value: Int) throws -> Int {
            guard let x = counters[name] else { return value }
            guard x >= 0, x <= 9_007_199_254_740_992, x == x.rounded() else {
                throw InputError(file: checkpointPath, location: "header.counters.\(name)",
                                 message: "\(x) is not a whole number of 0…2⁵³")
            }
            return Int(x)
        }
        func amount(_ name: String) throws -> Double {
            guard let x = counters[name] else { return 0 }
            guard x.isFinite else {
                throw InputError(file: checkpointPath, location: "header.counters.\(name)", message: "\(x) is not finite")
            }
            return x
        }
        let adamStep = try count("adamStep", default: header.step)
        let totals = EpochTotals(lossSum: try amount("epochLossSum"), correct: try count("epochCorrect", default: 0),
                                 seen: try count("epochSeen", default: 0), seconds: try amount("epochSeconds"))
        let skipped = try count("skippedSteps", default: 0)
        let seconds = try amount("trainSeconds")
        guard let state = header.generators["routing"], let rng = SeededRNG(state: state) else {
            throw InputError(file: checkpointPath, location: "header.generators.routing", message: "missing or invalid generator state")
        }
        var copies: [(values: [Float], into: Tensor)] = []
        for (i, p) in parameters.enumerated() {
            // Every process takes every parameter's value; the moments of those it updates.
            let moments = optimizerIndex(ofParameter: i).map { [("adam.m.\(p.name)", optimizer.firstMoments[$0]),
                                                                ("adam.v.\(p.name)", optimizer.secondMoments[$0])] } ?? []
            for (name, tensor) in [(p.name, p.value)] + moments {
                guard let values = checkpoint.array(named: name), values.count == tensor.count else {
                    throw InputError(file: checkpointPath, location: "array \(name)",
                                     message: "missing or of the wrong size (the model has \(tensor.count) values)")
                }
                copies.append((values, tensor))
            }
        }
        var stateCopies: [(values: [Float], into: RouterState)] = []
        for (name, state) in routerStates {
            guard let values = checkpoint.array(named: name) else {
                throw InputError(file: checkpointPath, location: "array \(name)",
                                 message: "missing (the router keeps state \(state.name) of \(state.count) values)")
            }
            guard values.count == state.count else {
                throw InputError(file: checkpointPath, location: "array \(name)",
                                 message: "has \(values.count) values; the router's state \(state.name) has \(state.count)")
            }
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                throw InputError(file: checkpointPath, location: "array \(name)",
                                 message: "value \(i) is \(values[i]); router state must be finite")
            }
            stateCopies.append((values, state))
        }
        for (values, tensor) in copies {
            values.withUnsafeBufferPointer { tensor.pointer.update(from: $0.baseAddress!, count: tensor.count) }
        }
        for (values, state) in stateCopies { try state.restore(values) }
        routingRNG = rng
        epoch = header.epoch
        step = header.step
        trainSeconds = seconds
        optimizer.restore(step: adamStep)
        partial = totals
        skippedSteps = skipped
    }
}

extension Trainer {
    /// Whether the run of a checkpoint written with `savedEpochs` epochs may go on with this
    /// configuration's epochs and give the numbers of a run started with them: it may not end
    /// before the steps already taken, and the learning rate of every step taken must be the
    /// same bit for bit (the cosine decay spans all epochs, so usually it is not).
    func checkEpochChange(from savedEpochs: Int, header: Checkpoint.Header) throws {
        let n = configuration.epochs, perEpoch = trainLoader.batchCount
        guard header.epoch <= n, header.step <= perEpoch * n else {
            throw InputError(location: "epochs", message: """
                \(n) is not allowed: the run has already trained \(header.epoch) epoch\(header.epoch == 1 ? "" : "s") \
                (\(header.step) steps) and a run cannot be shortened; expected \(max(header.epoch, 1)) or more \
                (the run was started with \(savedEpochs))
                """)
        }
        let o = configuration.optimizer
        let before = LearningRateSchedule(peak: o.learningRate, warmupSteps: o.warmupSteps,
                                          totalSteps: perEpoch * savedEpochs, floor: o.minLearningRate)
        if let s = (0..<header.step).first(where: { before.rate(at: $0).bitPattern != schedule.rate(at: $0).bitPattern }) {
            throw InputError(location: "epochs", message: """
                \(n) is not allowed on --resume: the learning rate decays (cosine) over all the run's steps, \
                epochs × \(perEpoch), so the \(header.step) steps already taken used rates that a run of \(n) epochs \
                would not have used (step \(s + 1): \(before.rate(at: s)) instead of \(schedule.rate(at: s))); going on \
                could not give the numbers of a run started with --epochs \(n). Start a new run with --epochs \(n) \
                (or, for runs meant to be extended, set optimizer.minLearningRate equal to optimizer.learningRate); \
                expected \(savedEpochs), the run's own epochs
                """)
        }
        progress.message("--resume: the run is extended from \(savedEpochs) to \(n) epochs")
    }
}
