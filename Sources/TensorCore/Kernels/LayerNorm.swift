import Foundation

/// Layer normalisation over each row (Ba, Kiros & Hinton 2016):
/// out = (x − μ) · rstd · γ + β with μ the row mean, rstd = 1/√(σ² + ε) and σ² the biased
/// row variance. Saves μ and rstd per row for the backward pass.
@inlinable
public func layerNormForward(_ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                             into out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                             rstd: UnsafeMutablePointer<Float>, rows: Int, width: Int, epsilon: Float = 1e-5) {
    let invWidth = 1 / Float(width)
    for r in 0..<rows {
        let xr = x + r * width, yr = out + r * width
        var m: Float = 0
        for j in 0..<width { m += xr[j] }
        m *= invWidth
        var v: Float = 0
        for j in 0..<width {
            let c = xr[j] - m
            v += c * c
        }
        v *= invWidth
        let s = 1 / (v + epsilon).squareRoot()
        for j in 0..<width { yr[j] = (xr[j] - m) * s * gamma[j] + beta[j] }
        mean[r] = m
        rstd[r] = s
    }
}

/// Backward of ``layerNormForward(_:gamma:beta:into:mean:rstd:rows:width:epsilon:)``.
/// With x̂ = (x − μ)·rstd and g = dy ⊙ γ:
/// dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)) (overwritten); dγ += Σ_rows dy ⊙ x̂;
/// dβ += Σ_rows dy. `dInput` may alias `dOutput`.
@inlinable
public func layerNormBackward(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                              mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                              dInput: UnsafeMutablePointer<Float>, dGamma: UnsafeMutablePointer<Float>,
                              dBeta: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    let invWidth = 1 / Float(width)
    for r in 0..<rows {
        let xr = x + r * width, dyr = dOutput + r * width, dxr = dInput + r * width
        let m = mean[r], s = rstd[r]
        var meanG: Float = 0, meanGX: Float = 0
        for j in 0..<width {
            let xhat = (xr[j] - m) * s
            let g = dyr[j] * gamma[j]
            meanG += g
            meanGX += g * xhat
            dGamma[j] += dyr[j] * xhat
            dBeta[j] += dyr[j]
        }
        meanG *= invWidth
        meanGX *= invWidth
        for j in 0..<width {
            let xhat = (xr[j] - m) * s
            let g = dyr[j] * gamma[j]
            dxr[j] = s * (g - meanG - xhat * meanGX)
        }
    }
}
