// Row gather, weighted row scatter-add and row-wise dot products: the data movement of a
// Mixture-of-Experts layer (dispatch tokens to experts, combine expert outputs, and the
// gradient of the combine weights).

/// Copies rows of `source` (row-major, `width` columns) into consecutive rows of
/// `destination`: `destination[i, :] = source[indices[i], :]` for `i` in `0..<count`.
/// Every index must be a valid row of `source`; an index may repeat.
public func gatherRows(_ source: UnsafePointer<Float>, width: Int, rows indices: UnsafePointer<Int32>,
                       count: Int, into destination: UnsafeMutablePointer<Float>) {
    parallelParts(count, minimumPerPart: max(1, 16_384 / max(1, width))) { part, _ in
        for i in part {
            let row = Int(indices[i])
            assert(row >= 0, "gatherRows: negative row index \(row) at position \(i)")
            (destination + i * width).update(from: source + row * width, count: width)
        }
    }
}

/// Adds weighted rows of `source` into rows of `destination` (row-major, `width` columns):
/// `destination[indices[i], :] += weights[i] · source[i, :]` for `i` in `0..<count`, with
/// weight 1 when `weights` is nil. Indices may repeat (their contributions add, in order
/// of `i`, whatever the thread count: the destination rows are split over ``ComputeThreads``
/// and each part adds, in order, the contributions to its own rows). This is the adjoint of ``gatherRows(_:width:rows:count:into:)`` and the combine
/// step of an MoE layer.
public func scatterAddRows(_ source: UnsafePointer<Float>, width: Int, rows indices: UnsafePointer<Int32>,
                           weights: UnsafePointer<Float>?, count: Int,
                           into destination: UnsafeMutablePointer<Float>) {
    guard count > 0 else { return }
    var highest = 0
    for i in 0..<count { highest = max(highest, Int(indices[i])) }
    parallelParts(highest + 1, minimumPerPart: max(1, 16_384 / max(1, width))) { mine, _ in
        for i in 0..<count {
            let row = Int(indices[i])
            assert(row >= 0, "scatterAddRows: negative row index \(row) at position \(i)")
            guard mine.contains(row) else { continue }
            let src = source + i * width, dst = destination + row * width
            if let weights {
                let w = weights[i]
                for j in 0..<width { dst[j] += w * src[j] }
            } else {
                for j in 0..<width { dst[j] += src[j] }
            }
        }
    }
}

/// `out[i] = Σ_j a[i, j] · b[i, j]` for each row of the row-major `rows × width` matrices
/// `a` and `b` (e.g. the gradient of MoE combine weights: output gradient · expert output).
public func rowDots(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, width: Int,
                    into out: UnsafeMutablePointer<Float>) {
    parallelParts(rows, minimumPerPart: max(1, 16_384 / max(1, width))) { part, _ in
        for r in part { out[r] = vectorDot(a + r * width, b + r * width, count: width) }
    }
}
