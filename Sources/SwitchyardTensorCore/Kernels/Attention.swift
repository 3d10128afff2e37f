/// Scaled dot-product self-attention (Vaswani et al. 2017) over the tokens of each image, for
/// every head, reading Q, K and V from one packed projection buffer.
///
/// `qkv` is [B·T, 3D] row-major: columns [0, D) are Q, [D, 2D) K, [2D, 3D) V, and head h uses
/// columns h·dh ..< (h+1)·dh of each (dh = D / heads). For each image b and head h:
/// S = Q·Kᵀ/√dh, P = softmax(S) (rows), O = P·V, written into `output` [B·T, D] at the head's
/// columns. P is saved in `probabilities` [B, heads, T, T] for the backward pass. The small
/// products run as strided GEMMs straight on the packed buffer, without copies; the images are
/// split over ``ComputeThreads`` (each image's heads run on one thread).
public func attentionForward(qkv: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                             probabilities: UnsafeMutablePointer<Float>,
                             batch: Int, tokens t: Int, width d: Int, heads: Int) {
    parallelParts(batch) { images, _ in
        for b in images {
            attentionForward(image: b, qkv: qkv, output: output, probabilities: probabilities,
                             tokens: t, width: d, heads: heads)
        }
    }
}

/// All heads of image `b`: S = Q·Kᵀ/√dh, P = softmax(S), O = P·V.
@inline(__always)
func attentionForward(image b: Int, qkv: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                      probabilities: UnsafeMutablePointer<Float>, tokens t: Int, width d: Int, heads: Int) {
    let dh = d / heads, ld = 3 * d
    let scaleFactor = 1 / Float(dh).squareRoot()
    let base = qkv + b * t * ld
    for h in 0..<heads {
        let q = base + h * dh, k = base + d + h * dh, v = base + 2 * d + h * dh
        let p = probabilities + (b * heads + h) * t * t
        gemm(.none, .transposed, m: t, n: t, k: dh, alpha: scaleFactor, a: q, lda: ld, b: k, ldb: ld, c: p, ldc: t)
        softmaxRows(p, into: p, rows: t, width: t)
        gemm(.none, .none, m: t, n: dh, k: t, a: p, lda: t, b: v, ldb: ld,
             c: output + b * t * d + h * dh, ldc: d)
    }
}

/// Backward of ``attentionForward(qkv:output:probabilities:batch:tokens:width:heads:)``:
/// given dL/dO (`dOutput`, [B·T, D]), writes dL/d(qkv) into `dQKV` ([B·T, 3D], overwritten):
/// dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = dS·K/√dh, dK = dSᵀ·Q/√dh, dV = Pᵀ·dO.
/// Images are split over ``ComputeThreads``; each part keeps its T × T dP/dS on its stack.
public func attentionBackward(dOutput: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                              probabilities: UnsafePointer<Float>, dQKV: UnsafeMutablePointer<Float>,
                              batch: Int, tokens t: Int, width d: Int, heads: Int) {
    parallelParts(batch) { images, _ in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, t * t)) { scratch in
            for b in images {
                attentionBackward(image: b, dOutput: dOutput, qkv: qkv, probabilities: probabilities, dQKV: dQKV,
                                  scratch: scratch.baseAddress!, tokens: t, width: d, heads: heads)
            }
        }
    }
}

/// All heads of image `b`; `scratch` holds T·T floats (dP, then dS in place).
@inline(__always)
func attentionBackward(image b: Int, dOutput: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                       probabilities: UnsafePointer<Float>, dQKV: UnsafeMutablePointer<Float>,
                       scratch: UnsafeMutablePointer<Float>, tokens t: Int, width d: Int, heads: Int) {
    let dh = d / heads, ld = 3 * d
    let scaleFactor = 1 / Float(dh).squareRoot()
    let base = qkv + b * t * ld, dBase = dQKV + b * t * ld
    for h in 0..<heads {
        let q = base + h * dh, k = base + d + h * dh, v = base + 2 * d + h * dh
        let dq = dBase + h * dh, dk = dBase + d + h * dh, dv = dBase + 2 * d + h * dh
        let p = probabilities + (b * heads + h) * t * t
        let dO = dOutput + b * t * d + h * dh
        // dV = Pᵀ·dO
        gemm(.transposed, .none, m: t, n: dh, k: t, a: p, lda: t, b: dO, ldb: d, c: dv, ldc: ld)
        // dP = dO·Vᵀ, then dS in place.
        gemm(.none, .transposed, m: t, n: t, k: dh, a: dO, lda: d, b: v, ldb: ld, c: scratch, ldc: t)
        softmaxRowsBackward(output: p, dOutput: scratch, dInput: scratch, rows: t, width: t)
        // dQ = dS·K/√dh, dK = dSᵀ·Q/√dh
        gemm(.none, .none, m: t, n: dh, k: t, alpha: scaleFactor, a: scratch, lda: t, b: k, ldb: ld, c: dq, ldc: ld)
        gemm(.transposed, .none, m: t, n: dh, k: t, alpha: scaleFactor, a: scratch, lda: t, b: q, ldb: ld, c: dk, ldc: ld)
    }
}
