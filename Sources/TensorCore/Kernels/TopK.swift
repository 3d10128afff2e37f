/// Whether (value a, index ia) ranks before (value b, index ib): larger values first, ties by
/// the lower index.
@inline(__always) @usableFromInline
func ranksBefore(_ a: Float, _ ia: Int32, _ b: Float, _ ib: Int32) -> Bool {
    a > b || (a == b && ia < ib)
}

/// For each row of the rows × width matrix x, its k largest elements and their columns,
/// sorted by value descending (ties: lower column first). `values` and `indices` are
/// rows × k. `k` may be 0 or `width`. O(width · k) per row: meant for small widths (experts).
@inlinable
public func topKRows(_ x: UnsafePointer<Float>, rows: Int, width: Int, k: Int,
                     values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) {
    precondition(k >= 0 && k <= width, "topKRows: k = \(k) is outside 0...\(width)")
    guard k > 0 else { return }
    for r in 0..<rows {
        let xr = x + r * width, vr = values + r * k, ir = indices + r * k
        var filled = 0
        for j in 0..<width {
            let v = xr[j], idx = Int32(j)
            if filled == k && !ranksBefore(v, idx, vr[k - 1], ir[k - 1]) { continue }
            // Insert into the sorted prefix.
            var p = filled == k ? k - 1 : filled
            while p > 0 && ranksBefore(v, idx, vr[p - 1], ir[p - 1]) {
                vr[p] = vr[p - 1]
                ir[p] = ir[p - 1]
                p -= 1
            }
            vr[p] = v
            ir[p] = idx
            if filled < k { filled += 1 }
        }
    }
}

/// For each column j of the rows × width matrix x, its k largest elements and their rows,
/// sorted by value descending (ties: lower row first): `values` and `indices` are width × k
/// (row j holds column j's result). Expert Choice routing uses it with rows = tokens and
/// columns = experts. Each column costs O(rows · log k) (a bounded heap), so k ≪ rows is cheap.
public func topKColumns(_ x: UnsafePointer<Float>, rows: Int, width: Int, k: Int,
                        values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) {
    precondition(k >= 0 && k <= rows, "topKColumns: k = \(k) is outside 0...\(rows)")
    guard k > 0 else { return }
    // A min-heap (by rank) of the best k seen; the root is the worst of them.
    var heapValues = [Float](repeating: 0, count: k)
    var heapIndices = [Int32](repeating: 0, count: k)
    heapValues.withUnsafeMutableBufferPointer { hvBuffer in
        heapIndices.withUnsafeMutableBufferPointer { hiBuffer in
            let hv = hvBuffer.baseAddress!, hi = hiBuffer.baseAddress!
            func siftDown(_ start: Int, _ size: Int) {
                var i = start
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var worst = i
                    if l < size && ranksBefore(hv[worst], hi[worst], hv[l], hi[l]) { worst = l }
                    if r < size && ranksBefore(hv[worst], hi[worst], hv[r], hi[r]) { worst = r }
                    if worst == i { return }
                    hv.swapAt(i, worst, hi)
                    i = worst
                }
            }
            for j in 0..<width {
                for t in 0..<k {
                    hv[t] = x[t * width + j]
                    hi[t] = Int32(t)
                }
                for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i, k) }
                for t in k..<rows {
                    let v = x[t * width + j]
                    if ranksBefore(v, Int32(t), hv[0], hi[0]) {
                        hv[0] = v
                        hi[0] = Int32(t)
                        siftDown(0, k)
                    }
                }
                // Pop the worst to the back: the result is sorted best first.
                var size = k
                while size > 1 {
                    hv.swapAt(0, size - 1, hi)
                    size -= 1
                    siftDown(0, size)
                }
                (values + j * k).update(from: hv, count: k)
                (indices + j * k).update(from: hi, count: k)
            }
        }
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    /// Swaps elements i and j here and in a parallel index array.
    @inline(__always) @usableFromInline
    func swapAt(_ i: Int, _ j: Int, _ parallel: UnsafeMutablePointer<Int32>) {
        let v = self[i]; self[i] = self[j]; self[j] = v
        let p = parallel[i]; parallel[i] = parallel[j]; parallel[j] = p
    }
}
