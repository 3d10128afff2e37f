// Top-k *sets* per column of a row-major `rows × width` matrix, without heaps: for each
// column, the k rows that ``topKColumns(_:rows:width:k:values:indices:)`` would return
// (value descending, ties to the lower row, NaN highest), but listed in increasing row order,
// which is the order an Expert Choice router hands its tokens to the plan.
//
// Method: the k-th largest value v* of a column fixes the set: every row above v*, and the
// (k − #above) lowest rows equal to v*. v* comes from a selection (quickselect with a
// three-way partition, falling back to sorting past 2·log₂ n + 8 rounds) among *candidates*,
// the rows at or above a lower bound found from a sample of 256 to 1,024 evenly spaced rows
// (the sample's order statistic 3 standard deviations beyond the expected rank of v*; with
// at most 256 rows the sample is the whole column and the bound is exact). One
// row-major pass over the matrix collects each column's candidates in row order; a column
// whose candidates overflow their room or number fewer than k (the bound missed) is redone
// exactly over all its rows. A matrix holding NaN goes to the heap method. The result never
// depends on the sample or the thread count, only on the matrix.

/// Reusable buffers for ``ColumnTopKSelector/select(_:rows:width:k:indices:values:)``.
public final class ColumnTopKSelector {
    private var candidateRows: UnsafeMutablePointer<Int32>?
    private var candidateValues: UnsafeMutablePointer<Float>?
    private var candidateCapacity = 0
    private var sample: [Float] = []
    private var bounds: [Float] = []
    private var columnRoom = 0
    private var counts: [Int] = []
    private var nanSeen: [Bool] = []
    private var stepParts = 1
    /// The bounds, counts and NaN flags of the steps, as raw memory (the parts' threads write
    /// them at once), with its capacity in columns × parts.
    private var stepBounds: UnsafeMutablePointer<Float>?
    private var stepCounts: UnsafeMutablePointer<Int>?
    private var stepNaN: UnsafeMutablePointer<Bool>?
    private var stepCapacity = 0

    /// A selector with no buffers yet (they grow to the largest problem seen).
    public init() {}

    deinit {
        candidateRows?.deallocate()
        candidateValues?.deallocate()
        stepBounds?.deallocate()
        stepCounts?.deallocate()
        stepNaN?.deallocate()
    }

    /// For each column j of `x`, writes the rows of its k largest elements (the set
    /// ``topKColumns(_:rows:width:k:values:indices:)`` selects) in increasing order to
    /// `indices[j·k ..< (j+1)·k]` and their values to the same positions of `values`.
    /// `0 ≤ k ≤ rows`. Expected O(rows · width) plus O(k log k) per column only in the
    /// exact fallback; columns are split over ``ComputeThreads``.
    public func select(_ x: UnsafePointer<Float>, rows n: Int, width e: Int, k: Int,
                       indices: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>) {
        precondition(k >= 0 && k <= n, "select: k = \(k) is outside 0...\(n) (the row count)")
        precondition(n <= Int(Int32.max), "select: \(n) rows do not fit Int32 indices")
        if k == 0 || e == 0 { return }
        if k == n {
            parallelParts(e, minimumPerPart: max(1, 32_768 / n)) { part, _ in
                for j in part {
                    for t in 0..<n {
                        indices[j * k + t] = Int32(t)
                        values[j * k + t] = x[t * e + j]
                    }
                }
            }
            return
        }
        // Lower bounds from the sample.
        // The sample: every row up to 256 rows, then n/8 evenly spaced rows, at most 1,024.
        let m = n <= 256 ? n : min(1_024, max(256, n / 8))
        let q = Double(k) / Double(n)
        var rank = m == n ? k : Int((q * Double(m) + 3 * (q * (1 - q) * Double(m)).squareRoot() + 2).rounded(.up))
        rank = min(rank, m)
        if sample.count < m * e { sample = [Float](repeating: 0, count: m * e) }
        if bounds.count < e { bounds = [Float](repeating: 0, count: e); counts = [Int](repeating: 0, count: e); nanSeen = [Bool](repeating: false, count: e) }
        let expected = m == n ? k : Int((Double(n) * Double(rank) / Double(m)).rounded(.up))
        columnRoom = min(n, expected + expected / 4 + 64)
        if candidateCapacity < columnRoom * e {
            candidateRows?.deallocate()
            candidateValues?.deallocate()
            candidateCapacity = columnRoom * e
            candidateRows = .allocate(capacity: candidateCapacity)
            candidateValues = .allocate(capacity: candidateCapacity)
        }
        let room = columnRoom
        let cRows = candidateRows!, cValues = candidateValues!
        var anyNaN = false
        sample.withUnsafeMutableBufferPointer { sampleBuffer in
        bounds.withUnsafeMutableBufferPointer { boundBuffer in
        counts.withUnsafeMutableBufferPointer { countBuffer in
        nanSeen.withUnsafeMutableBufferPointer { nanBuffer in
            let s = sampleBuffer.baseAddress!, lo = boundBuffer.baseAddress!
            let count = countBuffer.baseAddress!, nan = nanBuffer.baseAddress!
            // Transposed into columns 16 rows at a time, so that each column's writes fill
            // whole cache lines while the 16 rows stay in L1.
            var i0 = 0
            while i0 < m {
                let i1 = min(m, i0 + 16)
                for j in 0..<e {
                    let column = s + j * m
                    for i in i0..<i1 { column[i] = x[(m == n ? i : i * n / m) * e + j] }
                }
                i0 = i1
            }
            // Part by groups of eight columns (vector compares), or by single columns when few.
            let group = e >= 16 || e % 8 == 0 ? 8 : 1
            let groups = (e + group - 1) / group
            parallelParts(groups, minimumPerPart: max(1, 32_768 / (n * group))) { part, _ in
                let j0 = part.lowerBound * group, j1 = min(e, part.upperBound * group)
                for j in j0..<j1 {
                    nan[j] = false
                    count[j] = 0
                    let column = s + j * m
                    var hasNaN = false
                    for i in 0..<m where column[i].isNaN { hasNaN = true; break }
                    if hasNaN { nan[j] = true; lo[j] = -.infinity; continue }
                    lo[j] = kthLargest(column, count: m, rank: rank - 1)
                }
                collectCandidates(x, rows: n, width: e, columns: j0..<j1, bounds: lo, room: room,
                                  candidateRows: cRows, candidateValues: cValues, counts: count, nan: nan)
            }
            for j in 0..<e where nan[j] { anyNaN = true }
            if anyNaN { return }
            parallelParts(e, minimumPerPart: max(1, 32_768 / n)) { part, _ in
                var scratch: [Float] = []
                var exactRows: [Int32] = [], exactValues: [Float] = []
                for j in part {
                    let c = count[j]
                    let exact = c > room || c < k
                    let available = exact ? n : c
                    if exact {
                        // The bound missed, or the candidates overflowed: every row is a candidate.
                        if exactRows.count < n { exactRows = [Int32](repeating: 0, count: n); exactValues = [Float](repeating: 0, count: n) }
                        exactRows.withUnsafeMutableBufferPointer { r in
                            exactValues.withUnsafeMutableBufferPointer { v in
                                for t in 0..<n { r[t] = Int32(t); v[t] = x[t * e + j] }
                            }
                        }
                    }
                    if scratch.count < available { scratch = [Float](repeating: 0, count: available) }
                    scratch.withUnsafeMutableBufferPointer { sc in
                        exactRows.withUnsafeBufferPointer { er in
                            exactValues.withUnsafeBufferPointer { ev in
                                let r = exact ? er.baseAddress! : UnsafePointer(cRows + j * room)
                                let v = exact ? ev.baseAddress! : UnsafePointer(cValues + j * room)
                                emitColumn(rows: r, values: v, count: available, k: k, scratch: sc.baseAddress!,
                                           indices: indices + j * k, selected: values + j * k)
                            }
                        }
                    }
                }
            }
        }
        }
        }
        }
        if anyNaN {
            // NaN ranks above every number: the heap method knows the order; list its rows in order.
            let heapValues = UnsafeMutablePointer<Float>.allocate(capacity: e * k)
            let heapRows = UnsafeMutablePointer<Int32>.allocate(capacity: e * k)
            defer { heapValues.deallocate(); heapRows.deallocate() }
            topKColumns(x, rows: n, width: e, k: k, values: heapValues, indices: heapRows)
            for j in 0..<e {
                var chosen = UnsafeMutableBufferPointer(start: heapRows + j * k, count: k)
                chosen.sort()
                for i in 0..<k {
                    indices[j * k + i] = chosen[i]
                    values[j * k + i] = x[Int(chosen[i]) * e + j]
                }
            }
        }
    }
}

/// Writes the `k` largest of `count` candidates (rows in increasing order, values) to
/// `indices` and `selected`, in row order, ties to the lower row; `scratch` holds `count`.
@inline(__always)
private func emitColumn(rows r: UnsafePointer<Int32>, values v: UnsafePointer<Float>, count: Int, k: Int,
                        scratch: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>,
                        selected: UnsafeMutablePointer<Float>) {
    scratch.update(from: v, count: count)
    let threshold = kthLargest(scratch, count: count, rank: k - 1)
    var above = 0
    for i in 0..<count where v[i] > threshold { above += 1 }
    var ties = k - above
    var out = 0
    for i in 0..<count {
        let value = v[i]
        if value > threshold {
            indices[out] = r[i]
            selected[out] = value
            out += 1
        } else if value == threshold && ties > 0 {
            ties -= 1
            indices[out] = r[i]
            selected[out] = value
            out += 1
        }
    }
}

/// One row-major pass over columns `columns` of `x`: appends (row, value) of every element
/// ≥ `bounds[j]` to column j's candidates (room for `room`, counted past it), and flags NaN.
@inline(__always)
private func collectCandidates(_ x: UnsafePointer<Float>, rows n: Int, rowOffset: Int = 0, width e: Int, columns: Range<Int>,
                               bounds: UnsafePointer<Float>, room: Int,
                               candidateRows: UnsafeMutablePointer<Int32>, candidateValues: UnsafeMutablePointer<Float>,
                               counts: UnsafeMutablePointer<Int>, nan: UnsafeMutablePointer<Bool>) {
    let j0 = columns.lowerBound, j1 = columns.upperBound
    var t = 0
    var nanMask = SIMDMask<SIMD8<Int32>>(repeating: false)
    var scalarNaN = false
    while t < n {
        let row = x + t * e
        var j = j0
        while j + floatVectorWidth <= j1 {
            let v = loadVector(row, j)
            nanMask = nanMask .| (v .!= v)
            let hit = v .>= loadVector(bounds, j)
            if any(hit) {
                // The lanes that hit, as bits, visited lowest first.
                var bits = (SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128)
                            .replacing(with: 0, where: .!hit)).wrappedSum()
                while bits != 0 {
                    let l = bits.trailingZeroBitCount
                    bits &= bits - 1
                    let c = j + l, at = counts[c]
                    if at < room {
                        candidateRows[c * room + at] = Int32(rowOffset + t)
                        candidateValues[c * room + at] = v[l]
                    }
                    counts[c] = at + 1
                }
            }
            j += floatVectorWidth
        }
        while j < j1 {
            let v = row[j]
            if v.isNaN { scalarNaN = true }
            if v >= bounds[j] {
                let at = counts[j]
                if at < room {
                    candidateRows[j * room + at] = Int32(rowOffset + t)
                    candidateValues[j * room + at] = v
                }
                counts[j] = at + 1
            }
            j += 1
        }
        t += 1
    }
    if any(nanMask) || scalarNaN { for j in columns { nan[j] = true } }
}

/// The element of rank `rank` (0-based) in descending order of `a[0..<count]` (no NaN);
/// reorders (and may negate) `a`. Near either end (within count/8 of it) by a bounded heap of
/// the rank + 1 largest (or smallest) values, where nearly every element is rejected by one
/// comparison with the heap's root; otherwise by quickselect with a three-way partition,
/// which falls back to sorting the remaining range after 2·log₂ count + 8 rounds.
func kthLargest(_ a: UnsafeMutablePointer<Float>, count: Int, rank: Int) -> Float {
    let fromBottom = count - 1 - rank
    if rank <= count / 8 {
        return heapSelectLargest(a, count: count, size: rank + 1)
    }
    if fromBottom <= count / 8 {
        for i in 0..<count { a[i] = -a[i] }
        return -heapSelectLargest(a, count: count, size: fromBottom + 1)
    }
    return quickselectLargest(a, count: count, rank: rank)
}

/// The `size`-th largest of `a[0..<count]` (1 ≤ size ≤ count): a min-heap of the `size`
/// largest seen so far, kept in `a[0..<size]`.
private func heapSelectLargest(_ a: UnsafeMutablePointer<Float>, count: Int, size h: Int) -> Float {
    // Build a min-heap on the first h elements.
    var start = h / 2 - 1
    while start >= 0 {
        minHeapSiftDown(a, from: start, size: h)
        start -= 1
    }
    var root = a[0]
    for i in h..<count {
        let v = a[i]
        if v > root {
            a[0] = v
            minHeapSiftDown(a, from: 0, size: h)
            root = a[0]
        }
    }
    return root
}

@inline(__always)
private func minHeapSiftDown(_ a: UnsafeMutablePointer<Float>, from start: Int, size: Int) {
    let v = a[start]
    var pos = start
    while true {
        var child = 2 * pos + 1
        if child >= size { break }
        if child + 1 < size && a[child + 1] < a[child] { child += 1 }
        if a[child] < v {
            a[pos] = a[child]
            pos = child
        } else {
            break
        }
    }
    a[pos] = v
}

/// The element of rank `rank` in descending order by quickselect (three-way partition).
private func quickselectLargest(_ a: UnsafeMutablePointer<Float>, count: Int, rank: Int) -> Float {
    var lo = 0, hi = count, r = rank
    var rounds = 0
    let limit = 2 * (Int.bitWidth - count.leadingZeroBitCount) + 8
    while hi - lo > 16 {
        rounds += 1
        if rounds > limit {
            var rest = UnsafeMutableBufferPointer(start: a + lo, count: hi - lo)
            rest.sort(by: >)
            return a[lo + r]
        }
        let x0 = a[lo], x1 = a[lo + (hi - lo) / 2], x2 = a[hi - 1]
        let pivot = max(min(x0, x1), min(max(x0, x1), x2))
        // [lo, gt): > pivot; [gt, i): == pivot; [lt, hi): < pivot.
        var gt = lo, i = lo, lt = hi
        while i < lt {
            let v = a[i]
            if v > pivot {
                a[i] = a[gt]; a[gt] = v
                gt += 1; i += 1
            } else if v < pivot {
                lt -= 1
                a[i] = a[lt]; a[lt] = v
            } else {
                i += 1
            }
        }
        let above = gt - lo, equal = lt - gt
        if r < above {
            hi = gt
        } else if r < above + equal {
            return pivot
        } else {
            r -= above + equal
            lo = lt
        }
    }
    var rest = UnsafeMutableBufferPointer(start: a + lo, count: hi - lo)
    rest.sort(by: >)
    return a[lo + r]
}

// The same selection in three steps, for a caller that produces the matrix block by block
// (an Expert Choice router's row pass) and can hand each block over while it is in cache:
// bounds from sample rows, candidates collected per block by whichever thread made it, and
// the sets taken from the candidates of all parts in part order (= row order).
extension ColumnTopKSelector {
    /// Step 1: lower bounds for the top-`k` of each column of an `n × e` matrix from `m`
    /// sample rows (`sample`, m × e, rows evenly spread over the matrix), and room for the
    /// candidates of `parts` parts. The sample only steers how many candidates are kept: the
    /// result is exact whatever it holds. Returns false when the steps do not apply (k = 0,
    /// k = n or m ≥ n); then use ``select(_:rows:width:k:indices:values:)``.
    public func prepareInSteps(sample: UnsafePointer<Float>, sampleRows m: Int, rows n: Int, width e: Int, k: Int,
                               parts: Int) -> Bool {
        guard k > 0, k < n, m < n, m > 0, e > 0 else { return false }
        let q = Double(k) / Double(n)
        let rank = min(m, Int((q * Double(m) + 3 * (q * (1 - q) * Double(m)).squareRoot() + 2).rounded(.up)))
        let expected = Int((Double(n) * Double(rank) / Double(m)).rounded(.up))
        columnRoom = min(n, expected + expected / 4 + 64)
        stepParts = parts
        if stepCapacity < parts * e {
            stepBounds?.deallocate()
            stepCounts?.deallocate()
            stepNaN?.deallocate()
            stepCapacity = parts * e
            stepBounds = .allocate(capacity: stepCapacity)
            stepCounts = .allocate(capacity: stepCapacity)
            stepNaN = .allocate(capacity: stepCapacity)
        }
        if candidateCapacity < parts * columnRoom * e {
            candidateRows?.deallocate()
            candidateValues?.deallocate()
            candidateCapacity = parts * columnRoom * e
            candidateRows = .allocate(capacity: candidateCapacity)
            candidateValues = .allocate(capacity: candidateCapacity)
        }
        if self.sample.count < m { self.sample = [Float](repeating: 0, count: m) }
        let lo = stepBounds!
        self.sample.withUnsafeMutableBufferPointer { column in
            for j in 0..<e {
                var hasNaN = false
                for i in 0..<m {
                    let v = sample[i * e + j]
                    if v.isNaN { hasNaN = true }
                    column[i] = v
                }
                lo[j] = hasNaN ? -.infinity : kthLargest(column.baseAddress!, count: m, rank: rank - 1)
            }
        }
        stepCounts!.update(repeating: 0, count: parts * e)
        stepNaN!.update(repeating: false, count: parts * e)
        return true
    }

    /// Step 2: collects the candidates of rows `rows` of the matrix `x` (n × e) for part
    /// `part`. Each part must pass its rows in increasing order, and the parts must cover
    /// increasing ranges (part p's rows before part p + 1's). Thread-safe across parts.
    public func collectInSteps(_ x: UnsafePointer<Float>, rows: Range<Int>, width e: Int, part: Int) {
        let room = columnRoom
        let base = part * e
        collectCandidates(x + rows.lowerBound * e, rows: rows.count, rowOffset: rows.lowerBound, width: e,
                          columns: 0..<e, bounds: stepBounds!, room: room,
                          candidateRows: candidateRows! + base * room, candidateValues: candidateValues! + base * room,
                          counts: stepCounts! + base, nan: stepNaN! + base)
    }

    /// Step 3: the sets, as ``select(_:rows:width:k:indices:values:)`` writes them, from the
    /// candidates (columns whose bound missed are redone over all rows of `x`).
    public func finishInSteps(_ x: UnsafePointer<Float>, rows n: Int, width e: Int, k: Int,
                              indices: UnsafeMutablePointer<Int32>, values: UnsafeMutablePointer<Float>) {
        let parts = stepParts, room = columnRoom
        var anyNaN = false
        for i in 0..<(parts * e) where stepNaN![i] { anyNaN = true }
        if anyNaN {
            select(x, rows: n, width: e, k: k, indices: indices, values: values)
            return
        }
        let cRows = candidateRows!, cValues = candidateValues!
        do {
            let count = stepCounts!
            parallelParts(e, minimumPerPart: max(1, 32_768 / n)) { part, _ in
                var rowScratch: [Int32] = [], valueScratch: [Float] = [], scratch: [Float] = []
                for j in part {
                    var total = 0, overflow = false
                    for p in 0..<parts {
                        total += count[p * e + j]
                        if count[p * e + j] > room { overflow = true }
                    }
                    let exact = overflow || total < k
                    let available = exact ? n : total
                    if rowScratch.count < available {
                        rowScratch = [Int32](repeating: 0, count: available)
                        valueScratch = [Float](repeating: 0, count: available)
                        scratch = [Float](repeating: 0, count: available)
                    }
                    rowScratch.withUnsafeMutableBufferPointer { r in
                        valueScratch.withUnsafeMutableBufferPointer { v in
                            scratch.withUnsafeMutableBufferPointer { s in
                                if exact {
                                    for t in 0..<n { r[t] = Int32(t); v[t] = x[t * e + j] }
                                } else {
                                    var at = 0
                                    for p in 0..<parts {
                                        let c = count[p * e + j], from = (p * e + j) * room
                                        (r.baseAddress! + at).update(from: cRows + from, count: c)
                                        (v.baseAddress! + at).update(from: cValues + from, count: c)
                                        at += c
                                    }
                                }
                                emitColumn(rows: r.baseAddress!, values: v.baseAddress!, count: available, k: k,
                                           scratch: s.baseAddress!, indices: indices + j * k, selected: values + j * k)
                            }
                        }
                    }
                }
            }
        }
    }
}
