import SwitchyardTensorCore

/// Global gradient-norm clipping (Pascanu et al. 2013).
public enum GradientClipping {
    /// The L2 norm of all gradients together: each parameter's sum of squares (in Float, on
    /// whichever compute thread holds it), added in parameter order in Double — the same bits
    /// for any thread count.
    public static func globalNorm(_ parameters: [Parameter]) -> Float {
        norm(ofSums: sumsOfSquares(parameters))
    }

    /// Each parameter's gradient sum of squares, in Float.
    public static func sumsOfSquares(_ parameters: [Parameter]) -> [Float] {
        var sums = [Float](repeating: 0, count: parameters.count)
        sums.withUnsafeMutableBufferPointer { sums in
            ParameterRanges(parameters).forEachParameter(minimumPerPart: 16_384) { i in
                sums[i] = sumOfSquares(parameters[i].gradient.pointer, count: parameters[i].count)
            }
        }
        return sums
    }

    /// The norm from per-parameter sums of squares, added in their order in Double.
    public static func norm(ofSums sums: [Float]) -> Float {
        var total: Double = 0
        for s in sums { total += Double(s) }
        return Float(total.squareRoot())
    }

    /// Scales all gradients so their global norm is at most `maxNorm` (if `maxNorm` > 0) and
    /// returns the norm before clipping.
    @discardableResult
    public static func clipGlobalNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
        let norm = globalNorm(parameters)
        clip(parameters, norm: norm, maxNorm: maxNorm)
        return norm
    }

    /// Scales the gradients of `parameters` by `maxNorm`/`norm` when `norm` exceeds `maxNorm`
    /// (if `maxNorm` > 0); `norm` may cover more parameters than these (expert parallelism).
    public static func clip(_ parameters: [Parameter], norm: Float, maxNorm: Float) {
        if maxNorm > 0 && norm > maxNorm {
            let factor = maxNorm / norm
            for p in parameters { scale(p.gradient.pointer, by: factor, count: p.count) }
        }
    }
}
