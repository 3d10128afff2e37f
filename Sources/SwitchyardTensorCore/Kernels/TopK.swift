// Top-k selection along rows or columns of a row-major `rows × width` matrix.
//
// Order: by value descending, ties broken by the lower index; NaN ranks above every
// number (as in argmaxRows), and NaNs among themselves by index. This is a strict total
// order on (value, index) pairs, so the result is unique and deterministic.
//
// Method: a bounded binary heap of size k per row or column, kept directly in the output
// buffers (no allocation), with the *lowest-ranked* kept element at the root. Each new
// element is compared with the root and, if it ranks higher, replaces it (one sift-down,
// O(log k)); most elements are rejected by that single comparison. When all elements are
// seen, an in-place heap sort turns each heap into descending order. Cost: O(n log k) per
// heap for n candidates, plus O(k log k) for the final sort.
//
// topKColumns feeds the heaps of a block of adjacent columns from each row in turn. When
// all `width` heaps fit in cache (small k, the usual case) the block is the whole row and
// the matrix is read once, in order. For large k the block narrows so that its heaps stay
// in cache (a heap that does not fit turns every sift into cache misses); blocks of at
// least a cache line take the rows in chunks that every block visits while the chunk is
// still cached. The thresholds below were set by timing 200 000 × 256 matrices with k
// from 1 to 200 000 on a 2 MB-L2 machine.

/// Whether (a, ia) ranks above (b, ib): larger value first, NaN above numbers, then lower
/// index first.
@inline(__always)
func ranksAbove(_ a: Float, _ ia: Int32, _ b: Float, _ ib: Int32) -> Bool {
    if a > b { return true }
    if a < b { return false }
    if a == b { return ia < ib }
    // At least one NaN.
    if a.isNaN { return !b.isNaN || ia < ib }
    return false
}

/// Restores the heap property below `start` (lowest-ranked element at the root).
@inline(__always)
func topKSiftDown(_ values: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int32>,
                  from start: Int, size: Int) {
    let v = values[start], id = indices[start]
    var pos = start
    while true {
        var child = 2 * pos + 1
        if child >= size { break }
        // Pick the lower-ranked child.
        if child + 1 < size && ranksAbove(values[child], indices[child], values[child + 1], indices[child + 1]) {
            child += 1
        }
        if ranksAbove(v, id, values[child], indices[child]) {
            values[pos] = values[child]
            indices[pos] = indices[child]
            pos = child
        } else {
            break
        }
    }
    values[pos] = v
    indices[pos] = id
}

/// Adds (v, id) at position `size` and restores the heap property above it.
@inline(__always)
func topKPush(_ values: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int32>,
              _ v: Float, _ id: Int32, size: Int) {
    var pos = size
    while pos > 0 {
        let parent = (pos - 1) >> 1
        if ranksAbove(values[parent], indices[parent], v, id) {
            values[pos] = values[parent]
            indices[pos] = indices[parent]
            pos = parent
        } else {
            break
        }
    }
    values[pos] = v
    indices[pos] = id
}

/// Offers (v, id) to a full heap of `size` elements; `id` must exceed every index in it.
@inline(__always)
func topKOffer(_ values: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int32>,
               _ v: Float, _ id: Int32, size: Int) {
    let root = values[0]
    // Fast reject: not larger than the root (a tie loses on index). NaNs take the slow path.
    if v > root || v != v {
        if ranksAbove(v, id, root, indices[0]) {
            values[0] = v
            indices[0] = id
            topKSiftDown(values, indices, from: 0, size: size)
        }
    }
}

/// Sorts a heap of `size` elements in place into descending rank order.
@inline(__always)
func topKSortHeap(_ values: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int32>, size: Int) {
    var end = size - 1
    while end > 0 {
        let v = values[0], id = indices[0]
        values[0] = values[end]
        indices[0] = indices[end]
        values[end] = v
        indices[end] = id
        topKSiftDown(values, indices, from: 0, size: end)
        end -= 1
    }
}

/// The `k` largest elements of each row of the row-major `rows × width` matrix `x`: row r
/// of the `rows × k` outputs holds the values (`values`) and column indices (`indices`),
/// sorted by value descending with ties to the lower index (NaN ranks highest).
/// `0 ≤ k ≤ width`; `k = 0` writes nothing. O(width · log k) per row.
public func topKRows(_ x: UnsafePointer<Float>, rows: Int, width: Int, k: Int,
                     values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) {
    precondition(k >= 0 && k <= width, "topKRows: k = \(k) is outside 0...\(width) (the row width)")
    precondition(width <= Int(Int32.max), "topKRows: width \(width) does not fit Int32 indices")
    if k == 0 { return }
    for r in 0..<rows {
        let row = x + r * width, v = values + r * k, ix = indices + r * k
        for j in 0..<k { topKPush(v, ix, row[j], Int32(j), size: j) }
        for j in k..<width { topKOffer(v, ix, row[j], Int32(j), size: k) }
        topKSortHeap(v, ix, size: k)
    }
}

/// The `k` largest elements of each column of the row-major `rows × width` matrix `x`
/// (e.g. for Expert Choice routing, the k highest-scoring tokens of each expert when rows
/// are tokens and columns are experts): row j of the `width × k` outputs holds column j's
/// values (`values`) and row indices (`indices`), sorted by value descending with ties to
/// the lower row index (NaN ranks highest). `0 ≤ k ≤ rows`; `k = 0` writes nothing.
/// O(rows · log k) per column; see the top of this file for the memory-access pattern.
public func topKColumns(_ x: UnsafePointer<Float>, rows: Int, width: Int, k: Int,
                        values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) {
    topKColumns(x, rows: rows, width: width, k: k, values: values, indices: indices,
                allHeapsBudget: topKAllHeapsBudget, blockHeapBudget: topKBlockHeapBudget,
                chunkBytes: topKChunkBytes)
}

/// ``topKColumns(_:rows:width:k:values:indices:)`` with its cache budgets as arguments, so
/// that tests can drive every blocking regime on small matrices.
func topKColumns(_ x: UnsafePointer<Float>, rows: Int, width: Int, k: Int,
                 values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>,
                 allHeapsBudget: Int, blockHeapBudget: Int, chunkBytes: Int) {
    precondition(k >= 0 && k <= rows, "topKColumns: k = \(k) is outside 0...\(rows) (the row count)")
    precondition(rows <= Int(Int32.max), "topKColumns: \(rows) rows do not fit Int32 indices")
    if k == 0 || width == 0 { return }
    // Columns per block: all of them while all heaps (8 bytes per entry) fit in about 1 MB
    // of cache; otherwise as many as fit in about 256 KB, at least one.
    let block = 8 * k * width <= allHeapsBudget ? width : max(1, min(width, blockHeapBudget / (8 * k)))
    // Rows per chunk: about 1 MB of the matrix, which stays in cache while every block takes
    // its turn on it, so the matrix is read from memory once, in order. Only for blocks of
    // at least a cache line (16 floats): narrower blocks come with very large heaps, whose
    // cache misses dominate and grow when every block is revisited once per chunk.
    let chunk = block == width || block < 16 ? rows : max(1, chunkBytes / (4 * width))
    var r0 = 0
    while r0 < rows {
        let r1 = min(rows, r0 + chunk)
        var j0 = 0
        while j0 < width {
            let j1 = min(width, j0 + block)
            var r = r0
            while r < min(r1, k) {          // filling: the first k rows enter every heap
                let row = x + r * width
                for j in j0..<j1 { topKPush(values + j * k, indices + j * k, row[j], Int32(r), size: r) }
                r += 1
            }
            while r < r1 {                  // full heaps: offer the row
                let row = x + r * width
                let id = Int32(r)
                for j in j0..<j1 { topKOffer(values + j * k, indices + j * k, row[j], id, size: k) }
                r += 1
            }
            j0 = j1
        }
        r0 = r1
    }
    for j in 0..<width { topKSortHeap(values + j * k, indices + j * k, size: k) }
}

/// The bytes of heaps (values and indices) up to which ``topKColumns`` keeps every
/// column's heap live at once and reads the matrix in a single pass.
let topKAllHeapsBudget = 1024 * 1024

/// The bytes of heaps one column block of ``topKColumns`` aims to keep in cache.
let topKBlockHeapBudget = 256 * 1024

/// The bytes of matrix rows one row chunk of ``topKColumns`` covers.
let topKChunkBytes = 1024 * 1024
