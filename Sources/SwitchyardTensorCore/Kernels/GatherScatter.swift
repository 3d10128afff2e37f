// Row gather, weighted row scatter-add and row-wise dot products: the data movement of a
// Mixture-of-Experts layer (dispatch tokens to experts, combine expert outputs, and the
// gradient of the combine weights).

/// Copies rows of `source` (row-major, `width` columns) into consecutive rows of
/// `destination`: `destination[i, :] = source[indices[i], :]` for `i` in `0..<count`.
/// Every index must be a valid row of `source`; an index may repeat.
public func gatherRows(_ source: UnsafePointer<Float>, width: Int, rows indices: UnsafePointer<Int32>,
                       count: Int, into destination: UnsafeMutablePointer<Float>) {
    parallelParts(count, minimumPerPart: max(1, 65_536 / max(1, width))) { part, _ in
        if width % floatVectorWidth == 0 {
            // Rows of whole vectors: copied inline (a memmove call per short row costs more).
            for i in part {
                let row = Int(indices[i])
                assert(row >= 0, "gatherRows: negative row index \(row) at position \(i)")
                let src = source + row * width, dst = destination + i * width
                var j = 0
                while j < width {
                    storeVector(loadVector(src, j), dst, j)
                    j += floatVectorWidth
                }
            }
        } else {
            for i in part {
                let row = Int(indices[i])
                assert(row >= 0, "gatherRows: negative row index \(row) at position \(i)")
                (destination + i * width).update(from: source + row * width, count: width)
            }
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

/// The token-major form of ``scatterAddRows(_:width:rows:weights:count:into:)`` with zeroing:
/// for each destination row t in `0..<rows`,
/// `destination[t, :] = 0 + Σ weights[s] · source[s, :]` over the sources
/// `s = entries[q]`, `q` in `offsets[t] ..< offsets[t + 1]`, added in that order (weight 1
/// when `weights` is nil). With the entries of each row in increasing order of s (as
/// ``RoutingPlan``'s token index keeps them) the result equals, bit for bit, zeroing
/// `destination` and then calling `scatterAddRows` — but every destination row is written
/// once, with no zeroing pass, and the rows split over ``ComputeThreads`` without any part
/// reading another's indices. A row with no entries becomes 0.
public func gatherAddRows(_ source: UnsafePointer<Float>, width: Int, offsets: UnsafePointer<Int32>,
                          entries: UnsafePointer<Int32>, weights: UnsafePointer<Float>?, rows: Int,
                          into destination: UnsafeMutablePointer<Float>) {
    parallelParts(rows, minimumPerPart: max(1, 65_536 / max(1, width))) { part, _ in
        for t in part {
            let q0 = Int(offsets[t]), q1 = Int(offsets[t + 1])
            let dst = destination + t * width
            var j = 0
            // 32 columns at a time in four accumulators: each source row's loads go out together.
            while j + 32 <= width {
                var a0 = FloatVector(), a1 = FloatVector(), a2 = FloatVector(), a3 = FloatVector()
                for q in q0..<q1 {
                    let s = Int(entries[q]), src = source + s * width + j
                    if let weights {
                        let w = FloatVector(repeating: weights[s])
                        a0 += w * loadVector(src, 0)
                        a1 += w * loadVector(src, 8)
                        a2 += w * loadVector(src, 16)
                        a3 += w * loadVector(src, 24)
                    } else {
                        a0 += loadVector(src, 0)
                        a1 += loadVector(src, 8)
                        a2 += loadVector(src, 16)
                        a3 += loadVector(src, 24)
                    }
                }
                storeVector(a0, dst, j)
                storeVector(a1, dst, j + 8)
                storeVector(a2, dst, j + 16)
                storeVector(a3, dst, j + 24)
                j += 32
            }
            while j + floatVectorWidth <= width {
                var acc = FloatVector()
                if let weights {
                    for q in q0..<q1 {
                        let s = Int(entries[q])
                        acc += FloatVector(repeating: weights[s]) * loadVector(source + s * width, j)
                    }
                } else {
                    for q in q0..<q1 { acc += loadVector(source + Int(entries[q]) * width, j) }
                }
                storeVector(acc, dst, j)
                j += floatVectorWidth
            }
            while j < width {
                var acc: Float = 0
                for q in q0..<q1 {
                    let s = Int(entries[q])
                    if let weights { acc += weights[s] * source[s * width + j] } else { acc += source[s * width + j] }
                }
                dst[j] = acc
                j += 1
            }
        }
    }
}

/// The combine backward of an MoE layer in one pass over the assignments: for each i in
/// `0..<count`, with t = `indices[i]`, `dots[i] = dy[t, :] · b[i, :]` and
/// `scaled[i, :] = weights[i] · dy[t, :]`. Equal, bit for bit, to ``gatherRows(_:width:rows:count:into:)``
/// of `dy` into `scaled`, then ``rowDots(_:_:rows:width:into:)`` of `scaled` with `b`, then
/// `scaleRows(scaled, by: weights)`; but `dy`'s rows are read once.
public func gatherScaledRowsAndDots(_ dy: UnsafePointer<Float>, _ b: UnsafePointer<Float>, width: Int,
                                    rows indices: UnsafePointer<Int32>, weights: UnsafePointer<Float>, count: Int,
                                    scaled: UnsafeMutablePointer<Float>, dots: UnsafeMutablePointer<Float>) {
    parallelParts(count, minimumPerPart: max(1, 65_536 / max(1, width))) { part, _ in
        for i in part {
            let src = dy + Int(indices[i]) * width, dst = scaled + i * width
            dots[i] = vectorDot(src, b + i * width, count: width)
            let w = weights[i], wv = FloatVector(repeating: w)
            var j = 0
            while j + floatVectorWidth <= width {
                storeVector(loadVector(src, j) * wv, dst, j)
                j += floatVectorWidth
            }
            while j < width {
                dst[j] = src[j] * w
                j += 1
            }
        }
    }
}
