/// One line of a run's `metrics.jsonl`: the state of training after one optimisation step.
public struct StepRecord: Codable, Equatable, Sendable {
    /// Steps completed (1-based).
    public var step: Int
    /// The epoch the step belongs to (0-based).
    public var epoch: Int
    /// Cross-entropy plus auxiliary losses.
    public var loss: Float
    /// Cross-entropy alone.
    public var crossEntropy: Float
    /// The routers' weighted auxiliary losses, summed over layers.
    public var auxiliaryLoss: Float
    /// The learning rate used for the step.
    public var learningRate: Float
    /// The global gradient norm before clipping.
    public var gradientNorm: Float
    /// Training throughput over the steps since the previous record.
    public var imagesPerSecond: Double
    /// For each MoE layer, the tokens each expert took in this step.
    public var tokensPerExpert: [[Int]]
    /// For each MoE layer, the tokens no expert took (dropped over capacity, or picked by no
    /// expert under Expert Choice).
    public var droppedTokens: [Int]
    /// For each MoE layer, the coefficient of variation of `tokensPerExpert`.
    public var loadCV: [Float]
    /// For each MoE layer, the router's weighted auxiliary-loss terms (e.g. "balance", "z");
    /// absent when no router has any.
    public var auxiliaryTerms: [[String: Float]]?
    /// For each MoE layer, scalars the router reports (a bias's range, a λ; see
    /// ``RouterStateSummary``); absent when no router has any.
    public var routerScalars: [[String: Float]]?
}

/// One line of a run's `epochs.jsonl`: the evaluation after an epoch.
public struct EpochRecord: Codable, Equatable, Sendable {
    /// Epochs completed (1-based).
    public var epoch: Int
    /// Steps completed.
    public var step: Int
    /// Mean training loss over the epoch.
    public var trainLoss: Float
    /// Training accuracy over the epoch (on the augmented batches, in training mode).
    public var trainAccuracy: Float
    /// Mean test cross-entropy.
    public var testLoss: Float
    /// Test accuracy.
    public var testAccuracy: Float
    /// Test accuracy of each class, index = label.
    public var perClassAccuracy: [Float]
    /// Training wall time of the epoch in seconds (evaluation excluded).
    public var trainSeconds: Double
    /// Evaluation wall time in seconds.
    public var evaluationSeconds: Double
    /// Training images per second over the epoch.
    public var imagesPerSecond: Double
    /// The routing trace of the test set, relative to the run directory, or nil.
    public var trace: String?
}

/// A run's `summary.json`, written when training ends.
public struct RunSummary: Codable, Equatable, Sendable {
    /// The router's name.
    public var router: String
    /// The resolved router hyperparameters (key → JSON value).
    public var routerOptions: [String: String]
    /// The preset the run started from.
    public var preset: String
    /// The seed.
    public var seed: Int
    /// Epochs completed.
    public var epochs: Int
    /// Steps completed.
    public var steps: Int
    /// Final test accuracy.
    public var testAccuracy: Float
    /// Final per-class test accuracy.
    public var perClassAccuracy: [Float]
    /// Class names, index = label.
    public var classNames: [String]
    /// Trainable parameters.
    public var parameterCount: Int
    /// Parameters of the evaluated model (smaller for random-batch routing, whose experts are
    /// averaged into one FFN per layer).
    public var evaluationParameterCount: Int
    /// Total training wall time in seconds (evaluation excluded).
    public var trainSeconds: Double
    /// Training images per second over the whole run.
    public var imagesPerSecond: Double
    /// Compute threads (TensorCore's `ComputeThreads`): GEMMs and kernels split over this many threads.
    public var threads: Int
    /// OpenBLAS's kernel set and how it was chosen (TensorCore's `BLASKernels.summary`): GEMM
    /// results depend on it in the last bits. Nil in summaries written before it was recorded.
    public var blasKernels: String?
    /// The routers' state at the end of the run, by checkpoint name
    /// (`blocks.B.feedForward.router.state.NAME`); absent when no router keeps state.
    public var routerState: [String: [Float]]?
    /// The router's traits (see `RouterTraits`), absent in summaries of older runs.
    public var routerTraits: [String: String]?
    /// For a soft router (trait `soft`), what its step records and traces count as its
    /// assignments (``RoutingPlan/softRecordRule``); absent for other routers.
    public var routingRecord: String? = nil
    /// The training process's peak resident memory in MiB (VmHWM) when it wrote this summary: of
    /// the last process only when the run was resumed; absent in older summaries.
    public var peakMemoryMiB: Double? = nil
}
