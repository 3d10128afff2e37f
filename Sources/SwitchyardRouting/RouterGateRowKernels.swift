import SwitchyardTensorCore

// The gate of a router with few experts, as row loops instead of GEMMs.
//
// With E ≤ `gateRowLoopMaximumExperts` the products x·Wᵀ ([n, d]·[d, E]), dLogitsᵀ·x and
// dLogits·W are long and thin: OpenBLAS spends much of its time packing x into panels for a
// handful of output columns. Row by row, W (E × d) stays in registers and L1 and x is read
// once, in order. Rows are split over ComputeThreads in the fixed blocks of
// `forEachRowBlock`; dW is summed per block and the block sums are added in block order, so
// the result does not depend on the thread count. Multiplies and adds are separate, as in every
// kernel of the project: an explicit fused multiply-add (`addingProduct`) becomes a call to
// libm's `fmaf` per lane in a build without `-target-cpu` (how a package that depends on
// Switchyard builds by default), which made these loops a sixth of a training step there.

/// Gates with at most this many experts use the row loops.
let gateRowLoopMaximumExperts = 8

/// logits[t, e] = x[t, :] · W[e, :] for `n` rows (x is n × d, W is E × d, logits n × E).
func gateRowLoopForward(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, rows n: Int, width d: Int,
                        experts e: Int, into logits: UnsafeMutablePointer<Float>) {
    forEachRowBlock(n, width: d) { _, rows in
        gateRowLoopForwardRows(x, weight: w, rows: rows, width: d, experts: e, into: logits)
    }
}

/// ``gateRowLoopForward(_:weight:rows:width:experts:into:)`` for the rows `rows` only, on the
/// calling thread.
@inline(__always)
func gateRowLoopForwardRows(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, rows: Range<Int>, width d: Int,
                            experts e: Int, into logits: UnsafeMutablePointer<Float>) {
    for t in rows {
        let xr = x + t * d, out = logits + t * e
        for ex in 0..<e {
            let wr = w + ex * d
            var a0 = FloatVector(), a1 = FloatVector()
            var k = 0
            while k + 16 <= d {
                a0 += loadVector(xr, k) * loadVector(wr, k)
                a1 += loadVector(xr, k + 8) * loadVector(wr, k + 8)
                k += 16
            }
            while k + 8 <= d {
                a0 += loadVector(xr, k) * loadVector(wr, k)
                k += 8
            }
            var s = (a0 + a1).sum()
            while k < d { s += xr[k] * wr[k]; k += 1 }
            out[ex] = s
        }
    }
}

/// dW += dLogitsᵀ·x and dInput += dLogits·W for `n` rows, row by row. `partials` is scratch
/// that grows to (blocks × E × d).
func gateRowLoopBackward(_ x: UnsafePointer<Float>, dLogits g: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                         rows n: Int, width d: Int, experts e: Int, dWeight: UnsafeMutablePointer<Float>,
                         dInput: UnsafeMutablePointer<Float>, partials: inout [Float]) {
    let blocks = (n + routerBlockRows - 1) / routerBlockRows
    if partials.count < blocks * e * d { partials = [Float](repeating: 0, count: blocks * e * d) }
    partials.withUnsafeMutableBufferPointer { buffer in
        let scratch = buffer.baseAddress!
        forEachRowBlock(n, width: d) { b, rows in
            let dw = scratch + b * e * d
            dw.update(repeating: 0, count: e * d)
            for t in rows {
                let xr = x + t * d, dx = dInput + t * d, gr = g + t * e
                var k = 0
                while k + 8 <= d {
                    let xv = loadVector(xr, k)
                    var acc = FloatVector()
                    for ex in 0..<e {
                        let gv = FloatVector(repeating: gr[ex])
                        acc += gv * loadVector(w + ex * d, k)
                        storeVector(loadVector(dw + ex * d, k) + gv * xv, dw + ex * d, k)
                    }
                    storeVector(loadVector(dx, k) + acc, dx, k)
                    k += 8
                }
                while k < d {
                    var acc: Float = 0
                    for ex in 0..<e {
                        acc += gr[ex] * w[ex * d + k]
                        dw[ex * d + k] += gr[ex] * xr[k]
                    }
                    dx[k] += acc
                    k += 1
                }
            }
        }
        for b in 0..<blocks { addInPlace(dWeight, scratch + b * e * d, count: e * d) }
    }
}
