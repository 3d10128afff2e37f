import SwitchyardTensorCore

/// Finite-difference gradient checking for the layer and router tests.
///
/// The forward passes run in Float32, so the check uses central differences with a step of
/// 1e-2 relative to the coordinate's scale and compares with a relative error that is
/// insensitive to tiny gradients: |a − n| / max(|a| + |n|, floor), floor = 1e-3 · the largest
/// numeric gradient checked. A sign or factor error gives errors near 1; a correct gradient
/// stays around 1e-3.
public enum GradientCheck {
    /// The largest relative error between `analytic` (the gradient of `loss` with respect to
    /// `values[0..<count]`) and central differences, over at most `sample` coordinates spread
    /// over the array. `loss` must recompute the whole forward from `values`; it may return nil
    /// when the perturbation changed a discrete choice (a router's top-k): that coordinate is
    /// skipped. With `normwise`, the error is ‖a − n‖/(‖a‖ + ‖n‖) over the sample instead.
    public static func maxRelativeError(values: UnsafeMutablePointer<Float>, count: Int, analytic: [Float],
                                        sample: Int = 24, step: Float = 1e-2, normwise: Bool = false,
                                        loss: () -> Double?) -> Double {
        precondition(analytic.count == count, "analytic gradient has \(analytic.count) values for \(count)")
        guard count > 0 else { return 0 }
        let stride = max(1, count / sample)
        var pairs: [(Double, Double)] = []
        var i = 0
        while i < count {
            let saved = values[i]
            let h = step * max(1, abs(saved))
            values[i] = saved + h
            let plus = loss()
            values[i] = saved - h
            let minus = loss()
            values[i] = saved
            if let plus, let minus { pairs.append((Double(analytic[i]), (plus - minus) / (2 * Double(h)))) }
            i += stride
        }
        if normwise {
            // ‖a − n‖ / (‖a‖ + ‖n‖) over the sampled coordinates: robust to Float32 rounding in
            // coordinates whose gradient is tiny, still ≈ 1 for a wrong sign or factor.
            let difference = pairs.reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            let a = pairs.reduce(0.0) { $0 + $1.0 * $1.0 }.squareRoot(), n = pairs.reduce(0.0) { $0 + $1.1 * $1.1 }.squareRoot()
            return a + n == 0 ? 0 : difference / (a + n)
        }
        let floor = max(1e-6, 1e-3 * (pairs.map { abs($0.1) }.max() ?? 0))
        return pairs.map { abs($0.0 - $0.1) / max(abs($0.0) + abs($0.1), floor) }.max() ?? 0
    }

    /// Σ c_i · y_i in Double: a scalar loss whose gradient with respect to y is c.
    public static func weightedSum(_ y: UnsafePointer<Float>, _ c: [Float]) -> Double {
        var s = 0.0
        for i in c.indices { s += Double(c[i]) * Double(y[i]) }
        return s
    }

    /// `count` Gaussian draws.
    public static func randomVector(_ count: Int, rng: inout SeededRNG, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in scale * rng.nextGaussian() }
    }
}
