import SwitchyardFileIO
import SwitchyardVisionTransformer

/// Everything that determines a training run: with the same configuration (seed and
/// thread count included) a run produces the same numbers.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// The preset this configuration started from.
    public var preset = "fmnist-small"
    /// The model.
    public var model = ViTConfiguration()
    /// The data.
    public var data = DataConfiguration()
    /// The optimiser and learning-rate schedule.
    public var optimizer = OptimizerConfiguration()
    /// Images per step.
    public var batchSize = 128
    /// Passes over the training set.
    public var epochs = 3
    /// The seed of every random draw of the run (initialisation, shuffling, routing).
    public var seed = 0
    /// Threads for OpenBLAS and Switchyard's own parallel loops.
    public var threads = 2
    /// Write a metrics line every this many steps.
    public var logEvery = 10
    /// Record routing traces of the test set after each epoch.
    public var traces = true
    /// What a non-finite loss or gradient does: stop the run (nil, the default) or skip the
    /// step. Optional so that configurations written before it existed still load.
    public var nonFinite: NonFinitePolicy?

    /// The `fmnist-small` preset.
    public init() {}

    /// Checks every field, with messages that give the allowed range, and the sizes against
    /// ``MemoryBudget`` (before anything is allocated).
    public func validate() throws {
        try model.validate()
        try data.validate()
        try optimizer.validate()
        func check(_ ok: Bool, _ field: String, _ value: Any, _ allowed: String) throws {
            if !ok { throw InputError(location: field, message: "\(value) is not allowed; expected \(allowed)") }
        }
        try check(batchSize >= 1, "batchSize", batchSize, "at least 1")
        if let g = model.routingGroupImages, g > 0 {
            try check(batchSize % g == 0, "model.routingGroupImages", g,
                      "0 (the whole batch) or a divisor of batchSize \(batchSize) (a batch's last group may be shorter only at the end of an epoch)")
        }
        try check(epochs >= 1, "epochs", epochs, "at least 1")
        try check(seed >= 0, "seed", seed, "0 or more")
        try check(threads >= 1 && threads <= 256, "threads", threads, "1 to 256")
        try check(logEvery >= 1, "logEvery", logEvery, "at least 1")
        try MemoryBudget.check(self)
    }
}

/// What training does when the loss or a gradient is NaN or infinite.
public enum NonFinitePolicy: String, Codable, Sendable, CaseIterable {
    /// Stop with a message naming the step and the layer; the last checkpoint stays intact.
    case stop
    /// Skip the step (no parameter update), report it, and go on.
    case skip
}

/// Which images a run trains and tests on.
public struct DataConfiguration: Codable, Equatable, Sendable {
    /// The data set: `fashion-mnist`, `mnist`, `cifar10` or `fashion-mnist-subset` (the
    /// small subset committed in `datasets/`, what the tests use).
    public var dataset = "fashion-mnist"
    /// Where its files are; empty = the data set's default location.
    public var directory = ""
    /// Use only the first N training images (0 = all).
    public var trainLimit = 0
    /// Use only the first N test images (0 = all).
    public var testLimit = 0
    /// Random-crop augmentation padding in pixels (0 = off).
    public var cropPadding = 0
    /// Random horizontal flips.
    public var flip = false

    /// No augmentation, full Fashion-MNIST.
    public init() {}

    /// Checks the ranges.
    public func validate() throws {
        if trainLimit < 0 { throw InputError(location: "data.trainLimit", message: "\(trainLimit) is not allowed; expected 0 (all) or more") }
        if testLimit < 0 { throw InputError(location: "data.testLimit", message: "\(testLimit) is not allowed; expected 0 (all) or more") }
        if cropPadding < 0 { throw InputError(location: "data.cropPadding", message: "\(cropPadding) is not allowed; expected 0 or more") }
    }
}

/// AdamW with linear warm-up and cosine decay (Loshchilov & Hutter 2019).
public struct OptimizerConfiguration: Codable, Equatable, Sendable {
    /// Peak learning rate.
    public var learningRate: Float = 1e-3
    /// Adam β₁.
    public var beta1: Float = 0.9
    /// Adam β₂.
    public var beta2: Float = 0.999
    /// Adam ε.
    public var epsilon: Float = 1e-8
    /// Decoupled weight decay (not applied to biases, norms and embeddings).
    public var weightDecay: Float = 0.05
    /// Linear warm-up steps from 0 to the peak.
    public var warmupSteps = 100
    /// The learning rate the cosine decays to at the last step.
    public var minLearningRate: Float = 0
    /// Clip the global gradient norm to this value (0 = no clipping).
    public var gradientClip: Float = 0

    /// The `fmnist-small` optimiser.
    public init() {}

    /// Checks the ranges.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ value: Any, _ allowed: String) throws {
            if !ok { throw InputError(location: "optimizer.\(field)", message: "\(value) is not allowed; expected \(allowed)") }
        }
        try check(learningRate.isFinite && learningRate > 0, "learningRate", learningRate, "a finite number > 0")
        try check(beta1 >= 0 && beta1 < 1, "beta1", beta1, "a number in [0, 1)")
        try check(beta2 >= 0 && beta2 < 1, "beta2", beta2, "a number in [0, 1)")
        try check(epsilon.isFinite && epsilon > 0, "epsilon", epsilon, "a finite number > 0")
        try check(weightDecay.isFinite && weightDecay >= 0, "weightDecay", weightDecay, "a finite number ≥ 0")
        try check(warmupSteps >= 0, "warmupSteps", warmupSteps, "0 or more")
        try check(minLearningRate.isFinite && minLearningRate >= 0 && minLearningRate <= learningRate,
                  "minLearningRate", minLearningRate, "between 0 and learningRate (\(learningRate))")
        try check(gradientClip.isFinite && gradientClip >= 0, "gradientClip", gradientClip, "0 (off) or a finite number > 0")
    }
}
