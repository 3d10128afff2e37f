import Foundation
import SwitchyardTensorCore

/// Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay
/// Regularization"). For each parameter p with gradient g, at step t (1-based):
///
///     m = β₁·m + (1−β₁)·g        v = β₂·v + (1−β₂)·g²
///     m̂ = m/(1−β₁ᵗ)              v̂ = v/(1−β₂ᵗ)
///     p = p − lr·(m̂/(√v̂ + ε) + λ·p)      (λ only for parameters with `decays`)
///
/// as PyTorch's `torch.optim.AdamW`. Biases, norms and embeddings do not decay.
public final class AdamW {
    /// The parameters updated, in order.
    public let parameters: [Parameter]
    /// β₁.
    public var beta1: Float
    /// β₂.
    public var beta2: Float
    /// ε.
    public var epsilon: Float
    /// λ, the decoupled weight decay.
    public var weightDecay: Float
    /// Steps taken so far.
    public private(set) var step = 0
    /// First moments, one per parameter.
    public let firstMoments: [Tensor]
    /// Second moments, one per parameter.
    public let secondMoments: [Tensor]
    /// The parameters end to end, for one parallel region per update.
    private let ranges: ParameterRanges

    /// An optimiser over `parameters` with zero moments.
    public init(parameters: [Parameter], beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0) {
        self.parameters = parameters
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.map { Tensor(shape: $0.value.shape) }
        secondMoments = parameters.map { Tensor(shape: $0.value.shape) }
        ranges = ParameterRanges(parameters)
    }

    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        for p in parameters { p.gradient.zero() }
    }

    /// One update with learning rate `learningRate`.
    public func update(learningRate lr: Float) {
        step += 1
        let correction1 = 1 - powf(beta1, Float(step)), correction2 = 1 - powf(beta2, Float(step))
        let b1 = beta1, b2 = beta2, eps = epsilon
        // Element-wise: all parameters end to end, split over the compute threads in one
        // region (most tensors are too small to split alone); same bits for any thread count.
        ranges.forEachPiece(minimumPerPart: 16_384) { i, elements in
            let p = parameters[i]
            let w = p.value.pointer, g = p.gradient.pointer
            let m = firstMoments[i].pointer, v = secondMoments[i].pointer
            let decay = p.decays ? weightDecay : 0
            for j in elements {
                let gj = g[j]
                m[j] = b1 * m[j] + (1 - b1) * gj
                v[j] = b2 * v[j] + (1 - b2) * gj * gj
                let mHat = m[j] / correction1, vHat = v[j] / correction2
                w[j] -= lr * (mHat / (vHat.squareRoot() + eps) + decay * w[j])
            }
        }
    }

    /// Restores the step count (moments are restored by writing into ``firstMoments`` and
    /// ``secondMoments``), for resuming from a checkpoint.
    public func restore(step: Int) { self.step = step }
}
