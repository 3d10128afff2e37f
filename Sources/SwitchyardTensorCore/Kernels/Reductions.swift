import Foundation

// Reductions over contiguous Float runs. Whole-buffer sums work in blocks of
// `reductionBlock` elements: each block is summed in Float with 32 SIMD partial sums, and
// the block sums are added in Double, so the error stays at a few ulp for any length
// while the inner loop runs at full vector speed.

/// Elements per Float block in ``sum(_:count:)`` and ``sumOfSquares(_:count:)``.
let reductionBlock = 1024

/// Σ x[i] over `count` elements (0 for `count == 0`).
public func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    Float(blockedSum(x, count: count))
}

/// The mean of `count` elements; NaN for `count == 0`.
public func mean(_ x: UnsafePointer<Float>, count: Int) -> Float {
    Float(blockedSum(x, count: count) / Double(count))
}

/// The largest of `count` elements: −∞ for `count == 0`, NaN if any element is NaN.
public func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    vectorMaximum(x, count: count)
}

/// Σ x[i]² over `count` elements (0 for `count == 0`).
public func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var total = 0.0
    var i = 0
    while i < count {
        let n = min(reductionBlock, count - i)
        total += Double(vectorDot(x + i, x + i, count: n))
        i += n
    }
    return Float(total)
}

/// For each row of the row-major `rows × width` matrix `x`, the column index of its largest
/// element, written to `indices[r]`. Ties go to the lowest index. NaN counts as larger than
/// every number (as in PyTorch), so a row holding NaN reports its first NaN. A row of
/// width 0 reports −1.
public func argmaxRows(_ x: UnsafePointer<Float>, rows: Int, width: Int,
                       into indices: UnsafeMutablePointer<Int32>) {
    for r in 0..<rows {
        let row = x + r * width
        let best = vectorMaximum(row, count: width)
        var found = -1
        if best.isNaN {
            for j in 0..<width where row[j].isNaN { found = j; break }
        } else {
            for j in 0..<width where row[j] == best { found = j; break }
        }
        indices[r] = Int32(found)
    }
}

/// Σ x[i] in Float blocks added in Double.
@inline(__always)
func blockedSum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var total = 0.0
    var i = 0
    while i < count {
        let n = min(reductionBlock, count - i)
        total += Double(vectorSum(x + i, count: n))
        i += n
    }
    return total
}

extension Tensor {
    /// The sum of all elements (0 for an empty tensor).
    public func sum() -> Float { SwitchyardTensorCore.sum(pointer, count: count) }

    /// The mean of all elements (NaN for an empty tensor).
    public func mean() -> Float { SwitchyardTensorCore.mean(pointer, count: count) }

    /// The largest element (−∞ for an empty tensor, NaN if any element is NaN).
    public func maximum() -> Float { SwitchyardTensorCore.maximum(pointer, count: count) }

    /// The sum of squared elements, e.g. for gradient norms.
    public func sumOfSquares() -> Float { SwitchyardTensorCore.sumOfSquares(pointer, count: count) }

    /// The index of the largest element along the last axis, for each position of the
    /// leading axes (ties to the lowest index; see ``argmaxRows(_:rows:width:into:)``).
    /// For logits of shape `[batch, classes]` these are the predicted classes.
    public func argmaxRows() -> [Int32] {
        precondition(rank >= 1, "argmaxRows needs a tensor of rank ≥ 1, got shape \(shape)")
        let width = shape[rank - 1]
        let rows = shape.dropLast().reduce(1, *)
        var result = [Int32](repeating: 0, count: rows)
        result.withUnsafeMutableBufferPointer { out in
            if let base = out.baseAddress {
                SwitchyardTensorCore.argmaxRows(pointer, rows: rows, width: width, into: base)
            }
        }
        return result
    }
}
