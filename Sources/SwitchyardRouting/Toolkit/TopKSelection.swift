import SwitchyardTensorCore

/// Top-k selection for routers, over arrays it sizes itself (the kernels in SwitchyardTensorCore
/// take raw pointers and trust their sizes).
public enum TopKSelection {
    /// The `k` largest scores of each of the `rows` rows of `scores` (rows × width): row r's
    /// values and expert indices in `values[r·k ..< (r+1)·k]` and `indices[…]`, by decreasing
    /// score, ties to the lower index (NaN ranks highest). Resizes both arrays to rows·k.
    public static func rows(_ scores: UnsafePointer<Float>, rows: Int, width: Int, k: Int,
                            values: inout [Float], indices: inout [Int32]) {
        precondition(k >= 0 && k <= width, "TopKSelection.rows: k = \(k) is outside 0...\(width)")
        if values.count != rows * k { values = [Float](repeating: 0, count: rows * k) }
        if indices.count != rows * k { indices = [Int32](repeating: 0, count: rows * k) }
        values.withUnsafeMutableBufferPointer { v in
            indices.withUnsafeMutableBufferPointer { i in
                guard let vb = v.baseAddress, let ib = i.baseAddress else { return }
                topKRows(scores, rows: rows, width: width, k: k, values: vb, indices: ib)
            }
        }
    }
}
