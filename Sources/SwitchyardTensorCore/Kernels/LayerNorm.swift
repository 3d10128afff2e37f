import Foundation

// Layer normalisation over the last axis (Ba, Kiros and Hinton, 2016), as in llm.c's
// `layernorm_forward` / `layernorm_backward`. For a row x of width n:
//
//   μ = (1/n) Σ_j x_j,   σ² = (1/n) Σ_j (x_j − μ)²   (biased variance, as PyTorch)
//   rstd = 1 / √(σ² + ε),   x̂_j = (x_j − μ) · rstd,   y_j = γ_j · x̂_j + β_j
//
// Backward, with g_j = γ_j · dy_j:
//
//   dx_j = rstd · (g_j − mean_k(g_k) − x̂_j · mean_k(g_k · x̂_k))
//   dγ_j += Σ_rows dy_j · x̂_j,   dβ_j += Σ_rows dy_j
//
// The variance is computed in two passes (mean first, then squared deviations), which is
// exact enough in Float for rows whose mean is large compared with their spread.

/// Layer normalisation of each row of the row-major `rows × width` matrix `x`, with scale
/// `gamma` and shift `beta` (length `width`): `out = γ ⊙ (x − μ)·rstd + β`, where μ is the
/// row mean and rstd = 1/√(σ² + ε) with σ² the biased row variance. Writes each row's μ to
/// `mean[r]` and its rstd to `rstd[r]` for the backward pass. `out` may be `x` (in place).
public func layerNormForward(_ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                             beta: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                             mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                             rows: Int, width: Int, epsilon: Float = 1e-5) {
    precondition(width > 0 || rows == 0, "layerNormForward needs width > 0, got \(width)")
    let n = Float(width)
    parallelParts(rows, minimumPerPart: 32) { part, _ in
        for r in part {
            let xr = x + r * width, yr = out + r * width
            let mu = vectorSum(xr, count: width) / n
            let variance = vectorSumSquaredDeviations(xr, center: mu, count: width) / n
            let s = 1 / sqrtf(variance + epsilon)
            mean[r] = mu
            rstd[r] = s
            for j in 0..<width { yr[j] = (xr[j] - mu) * s * gamma[j] + beta[j] }
        }
    }
}

/// The backward pass of ``layerNormForward(_:gamma:beta:into:mean:rstd:rows:width:epsilon:)``.
///
/// Given `dOutput` (the gradient with respect to the output), the forward input `x`,
/// `gamma`, and the saved `mean` and `rstd`, *overwrites* `dInput` with the gradient with
/// respect to `x` and *accumulates* the parameter gradients:
/// `dGamma[j] += Σ_r dOutput[r, j] · x̂[r, j]`, `dBeta[j] += Σ_r dOutput[r, j]`.
/// `dInput` may be `dOutput` (in place).
public func layerNormBackward(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                              gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                              rstd: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>,
                              dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
                              rows: Int, width: Int) {
    precondition(width > 0 || rows == 0, "layerNormBackward needs width > 0, got \(width)")
    // dγ and dβ first, split by columns: each column sums its rows in order, so the result does
    // not depend on the thread count. Then dx, split by rows (dx may be dy: dγ and dβ have read it by then).
    parallelParts(width, minimumPerPart: 8) { columns, _ in
        accumulateLayerNormParameterGradients(dOutput: dOutput, input: x, mean: mean, rstd: rstd,
                                              dGamma: dGamma, dBeta: dBeta, rows: rows, width: width,
                                              columns: columns)
    }
    parallelParts(rows, minimumPerPart: 32) { part, _ in
        for r in part {
            layerNormInputGradient(row: r, dOutput: dOutput, input: x, gamma: gamma, mean: mean, rstd: rstd,
                                   dInput: dInput, width: width)
        }
    }
}

/// dβ_j += Σ_r dy_rj and dγ_j += Σ_r dy_rj · x̂_rj for the columns j in `columns`, rows in order.
@inline(__always)
func accumulateLayerNormParameterGradients(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                                           mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                           dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
                                           rows: Int, width: Int, columns: Range<Int>) {
    for r in 0..<rows {
        let dy = dOutput + r * width, xr = x + r * width
        let mu = mean[r], s = rstd[r]
        let vMu = FloatVector(repeating: mu), vS = FloatVector(repeating: s)
        var j = columns.lowerBound
        while j + 8 <= columns.upperBound {
            let d = loadVector(dy, j)
            let h = (loadVector(xr, j) - vMu) * vS
            storeVector(loadVector(dBeta, j) + d, dBeta, j)
            storeVector(loadVector(dGamma, j) + d * h, dGamma, j)
            j += 8
        }
        while j < columns.upperBound {
            let d = dy[j], h = (xr[j] - mu) * s
            dBeta[j] += d
            dGamma[j] += d * h
            j += 1
        }
    }
}

/// dx of row `r`: rstd · (g − mean(g) − x̂ · mean(g · x̂)) with g = γ ⊙ dy (overwrites the row).
@inline(__always)
func layerNormInputGradient(row r: Int, dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                            gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                            dInput: UnsafeMutablePointer<Float>, width: Int) {
    let invN = 1 / Float(width)
    let dy = dOutput + r * width, xr = x + r * width, dx = dInput + r * width
    let mu = mean[r], s = rstd[r]

    // Pass 1: mean_k(γ_k·dy_k) and mean_k(γ_k·dy_k·x̂_k).
    let vMu = FloatVector(repeating: mu), vS = FloatVector(repeating: s)
    var a0 = FloatVector(), a1 = FloatVector(), b0 = FloatVector(), b1 = FloatVector()
    var j = 0
    while j + 16 <= width {
        let g0 = loadVector(gamma, j) * loadVector(dy, j)
        let g1 = loadVector(gamma, j + 8) * loadVector(dy, j + 8)
        let h0 = (loadVector(xr, j) - vMu) * vS
        let h1 = (loadVector(xr, j + 8) - vMu) * vS
        a0 += g0
        a1 += g1
        b0 += g0 * h0
        b1 += g1 * h1
        j += 16
    }
    var gMean = horizontalSum(a0 + a1), ghMean = horizontalSum(b0 + b1)
    while j < width {
        let g = gamma[j] * dy[j], h = (xr[j] - mu) * s
        gMean += g
        ghMean += g * h
        j += 1
    }
    gMean *= invN
    ghMean *= invN

    // Pass 2: dx (overwritten; dy is read first, so dx may be dy).
    let vG = FloatVector(repeating: gMean), vGH = FloatVector(repeating: ghMean)
    j = 0
    while j + 8 <= width {
        let d = loadVector(dy, j)
        let h = (loadVector(xr, j) - vMu) * vS
        storeVector((loadVector(gamma, j) * d - vG - h * vGH) * vS, dx, j)
        j += 8
    }
    while j < width {
        let d = dy[j], h = (xr[j] - mu) * s
        dx[j] = (gamma[j] * d - gMean - h * ghMean) * s
        j += 1
    }
}
