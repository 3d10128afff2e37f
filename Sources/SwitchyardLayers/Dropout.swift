import SwitchyardTensorCore

/// Inverted dropout (Srivastava et al. 2014): in training each element is zeroed with
/// probability `rate` and the survivors are scaled by 1/(1 − rate); at evaluation it is the
/// identity. The mask comes from the generator passed to ``forward(_:count:training:rng:)``.
public final class Dropout {
    /// The probability of zeroing an element.
    public let rate: Float
    private var mask = Tensor(shape: [0])
    private var active = false

    /// Dropout with the given rate in [0, 1).
    public init(rate: Float) {
        precondition(rate >= 0 && rate < 1, "dropout rate \(rate) is outside [0, 1)")
        self.rate = rate
    }

    /// Applies dropout to `count` elements of `x` in place.
    public func forward(_ x: UnsafeMutablePointer<Float>, count: Int, training: Bool, rng: inout SeededRNG) {
        active = training && rate > 0
        guard active else { return }
        if mask.count < count { mask = Tensor(shape: [count]) }
        let keep = 1 / (1 - rate), m = mask.pointer
        for i in 0..<count {
            m[i] = rng.nextFloat() < rate ? 0 : keep
            x[i] *= m[i]
        }
    }

    /// Backward in place: dL/dx = dL/dy ⊙ mask (identity when the last forward was not dropping).
    public func backward(_ dOutput: UnsafeMutablePointer<Float>, count: Int) {
        guard active else { return }
        multiply(dOutput, mask.pointer, into: dOutput, count: count)
    }
}
