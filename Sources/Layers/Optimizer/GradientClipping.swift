import TensorCore

/// Global gradient-norm clipping (Pascanu et al. 2013).
public enum GradientClipping {
    /// The L2 norm of all gradients together.
    public static func globalNorm(_ parameters: [Parameter]) -> Float {
        var total: Double = 0
        for p in parameters { total += Double(sumOfSquares(p.gradient.pointer, count: p.count)) }
        return Float(total.squareRoot())
    }

    /// Scales all gradients so their global norm is at most `maxNorm` (if `maxNorm` > 0) and
    /// returns the norm before clipping.
    @discardableResult
    public static func clipGlobalNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
        let norm = globalNorm(parameters)
        if maxNorm > 0 && norm > maxNorm {
            let factor = maxNorm / norm
            for p in parameters { scale(p.gradient.pointer, by: factor, count: p.count) }
        }
        return norm
    }
}
