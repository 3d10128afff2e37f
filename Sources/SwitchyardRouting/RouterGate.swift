import Foundation
import SwitchyardTensorCore

/// The learned linear map of a router, logits = x·Wᵀ with W of shape [E, d] (no bias), with
/// the buffers its forward and backward reuse. With at most 8 experts the products run as row
/// loops (RouterGateRowKernels.swift), otherwise as GEMMs. Initialised N(0, s/d) with s = 0.1, the Switch
/// Transformer's reduced initialisation scale (Fedus et al. 2021, §2.3).
public final class RouterGate {
    /// W, [E, d].
    public let weight: Parameter
    /// Token width d.
    public let width: Int
    /// Experts E.
    public let experts: Int
    /// The logits of the last ``forward(_:tokenCount:zeroingGradients:)`` (or of the rows
    /// ``forwardRows(_:rows:)`` computed), [n, E].
    public private(set) var logits: Tensor
    /// A scratch buffer of dL/dlogits, [n, E], zeroed by ``forward(_:tokenCount:zeroingGradients:)``.
    public private(set) var dLogits: Tensor
    /// Per-block (row loops, few experts) or per-chunk (GEMMs) dW sums of the backward.
    private var partials: [Float] = []

    /// A gate from width `width` to `experts` logits.
    public init(name: String, width: Int, experts: Int, rng: inout SeededRNG) {
        self.width = width
        self.experts = experts
        weight = Parameter(name: name, shape: [experts, width], decays: true)
        rng.fillGaussian(weight.value.pointer, count: weight.count, std: (0.1 / Float(width)).squareRoot())
        logits = Tensor(shape: [0, experts])
        dLogits = Tensor(shape: [0, experts])
    }

    /// Grows the buffers to `n` rows if needed (never shrinks them).
    public func reserve(_ n: Int) {
        if logits.shape[0] < n {
            logits = Tensor(shape: [n, experts])
            dLogits = Tensor(shape: [n, experts])
        }
    }

    /// Computes the rows `rows` of logits = x·Wᵀ into ``logits`` (after ``reserve(_:)``), on the
    /// calling thread: for routers that consume the logits block by block while they are in
    /// cache (``RouterRowPass``). The same numbers as ``forward(_:tokenCount:zeroingGradients:)``
    /// gives for those rows with few experts (row loops); with more, one small product per call.
    func forwardRows(_ x: UnsafePointer<Float>, rows: Range<Int>) {
        let r0 = rows.lowerBound
        if experts <= gateRowLoopMaximumExperts {
            gateRowLoopForwardRows(x, weight: weight.value.pointer, rows: rows, width: width, experts: experts,
                                   into: logits.pointer)
        } else {
            gemmOneCall(.none, .transposed, m: rows.count, n: experts, k: width, a: x + r0 * width, lda: width,
                        b: weight.value.pointer, ldb: width, c: logits.pointer + r0 * experts, ldc: experts)
        }
    }

    /// Computes logits = x·Wᵀ for `n` tokens into ``logits`` and, unless `zeroingGradients` is
    /// false (for routers whose backward overwrites every row of ``dLogits``), zeroes ``dLogits``.
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, tokenCount n: Int, zeroingGradients: Bool = true) -> UnsafeMutablePointer<Float> {
        reserve(n)
        if experts <= gateRowLoopMaximumExperts {
            gateRowLoopForward(x, weight: weight.value.pointer, rows: n, width: width, experts: experts, into: logits.pointer)
        } else {
            gemm(.none, .transposed, m: n, n: experts, k: width, a: x, lda: width,
                 b: weight.value.pointer, ldb: width, c: logits.pointer, ldc: experts)
        }
        if zeroingGradients { dLogits.pointer.update(repeating: 0, count: n * experts) }
        return logits.pointer
    }

    /// Given dL/dlogits in ``dLogits`` (or `dLogits`) for the `n` tokens `x` of the last
    /// forward: dW += dLogitsᵀ·x and dInput += dLogits·W. dW is summed over fixed chunks of
    /// rows added in order (the same bits for any thread count).
    public func backward(_ x: UnsafePointer<Float>, tokenCount n: Int, dInput: UnsafeMutablePointer<Float>,
                         dLogits external: UnsafePointer<Float>? = nil) {
        let g = external ?? UnsafePointer(dLogits.pointer)
        if experts <= gateRowLoopMaximumExperts {
            gateRowLoopBackward(x, dLogits: g, weight: weight.value.pointer, rows: n, width: width, experts: experts,
                                dWeight: weight.gradient.pointer, dInput: dInput, partials: &partials)
            return
        }
        // About 16 chunks (so that they split evenly over the threads), 256 to 8,192 rows each.
        let chunkRows = max(256, min(8_192, (n / 16 + 255) / 256 * 256))
        gemmTransposedAccumulatingInChunks(m: experts, n: width, k: n, a: g, lda: experts, b: x, ldb: width,
                                           c: weight.gradient.pointer, ldc: width, chunkRows: chunkRows,
                                           scratch: &partials)
        gemm(.none, .none, m: n, n: width, k: experts, a: g, lda: experts, b: weight.value.pointer, ldb: width,
             beta: 1, c: dInput, ldc: width)
    }
}

extension RouterGate {
    /// Backward with dL/dlogits computed on the way: `computeRows(rows)` must write the rows
    /// `rows` of ``dLogits``; then dW += dLogitsᵀ·x and dInput += dLogits·W. With few experts
    /// every row is computed first and the row loops run; otherwise the rows go in fixed
    /// chunks of 256 to 1,024 rows over the compute threads, each chunk's dL/dlogits used by
    /// two small products while it is still in cache (its dW in a slice of its own, the slices
    /// added in chunk order: the same bits for any thread count).
    func backward(_ x: UnsafePointer<Float>, tokenCount n: Int, dInput: UnsafeMutablePointer<Float>,
                  computingGradients computeRows: (Range<Int>) -> Void) {
        let e = experts, d = width
        if e <= gateRowLoopMaximumExperts {
            forEachRowBlock(n, width: e) { _, rows in computeRows(rows) }
            backward(x, tokenCount: n, dInput: dInput)
            return
        }
        guard n > 0 else { return }
        let chunkRows = max(256, min(1_024, (n / 16 + 255) / 256 * 256))
        let chunks = (n + chunkRows - 1) / chunkRows
        if partials.count < chunks * e * d { partials = [Float](repeating: 0, count: chunks * e * d) }
        let g = dLogits.pointer, w = weight.value.pointer, dW = weight.gradient.pointer
        partials.withUnsafeMutableBufferPointer { buffer in
            let scratch = buffer.baseAddress!
            parallelParts(chunks, minimumPerPart: 1) { part, _ in
                for c in part {
                    let r0 = c * chunkRows, r1 = min(n, r0 + chunkRows)
                    computeRows(r0..<r1)
                    gemmOneCall(.none, .none, m: r1 - r0, n: d, k: e, a: g + r0 * e, lda: e, b: w, ldb: d,
                                beta: 1, c: dInput + r0 * d, ldc: d)
                    gemmOneCall(.transposed, .none, m: e, n: d, k: r1 - r0, a: g + r0 * e, lda: e, b: x + r0 * d, ldb: d,
                                beta: 0, c: scratch + c * e * d, ldc: d)
                }
            }
            for c in 0..<chunks { addInPlace(dW, scratch + c * e * d, count: e * d) }
        }
    }
}
