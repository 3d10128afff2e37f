import Foundation
import SwitchyardTensorCore

// The row loops of the routers, fused and split over ComputeThreads in fixed blocks.
//
// A router's work on its n × E logits is a few passes that each read a row and write a row
// (softmax, log-sum-exp, argmax, the balance loss's column sums, and in backward the
// softmax's Jacobian with the auxiliary terms). These kernels do each direction in one pass
// over the rows, in blocks of `routerBlockRows` rows. The blocks are fixed by n alone: a
// thread takes a contiguous range of blocks, and quantities summed over tokens (column sums of
// the probabilities, expert counts, Σ lse²) are summed per block, then the block sums are added
// in block order. So the results are the same, bit for bit, for any thread count.

/// Rows per block of the router kernels (fixed, so sums do not depend on the thread count).
let routerBlockRows = 256

/// Calls `body(block, rows)` for every block of `routerBlockRows` rows of `0..<n`, the
/// blocks split into contiguous ranges over ``ComputeThreads``, each range at least about
/// 32,768 elements of rows `width` wide (smaller problems run on the calling thread, where a
/// hand-off to another thread would cost more than it saves).
@inline(__always)
func forEachRowBlock(_ n: Int, width: Int, _ body: (_ block: Int, _ rows: Range<Int>) -> Void) {
    forEachRowBlockInParts(n, width: width) { _, block, rows in body(block, rows) }
}

/// ``forEachRowBlock(_:width:_:)`` that also tells `body` which part (0 ..< ComputeThreads.count)
/// runs the block; parts take increasing ranges of blocks.
@inline(__always)
func forEachRowBlockInParts(_ n: Int, width: Int, _ body: (_ part: Int, _ block: Int, _ rows: Range<Int>) -> Void) {
    let blocks = (n + routerBlockRows - 1) / routerBlockRows
    let minimumBlocks = max(1, 32_768 / (routerBlockRows * max(width, 8)))
    parallelParts(blocks, minimumPerPart: minimumBlocks) { range, part in
        for b in range { body(part, b, b * routerBlockRows ..< min(n, (b + 1) * routerBlockRows)) }
    }
}

/// The index of the largest of `width` > 0 values: the first one on ties, the first NaN if
/// any (NaN ranks above numbers), as `argmaxRows` does.
@inline(__always)
func rowArgmax(_ row: UnsafePointer<Float>, width: Int) -> Int32 {
    if width < 8 {
        var best = row[0], found = 0
        if best.isNaN { return 0 }
        for j in 1..<width {
            let v = row[j]
            if v.isNaN { return Int32(j) }
            if v > best { best = v; found = j }
        }
        return Int32(found)
    }
    var m = loadVector(row, 0)
    var nan = m .!= m
    var j = 8
    while j + 8 <= width {
        let v = loadVector(row, j)
        nan = nan .| (v .!= v)
        m.replace(with: v, where: v .> m)
        j += 8
    }
    var best = m[0]
    for l in 1..<8 where m[l] > best { best = m[l] }
    while j < width {
        let v = row[j]
        if v.isNaN { nan[0] = true }
        if v > best { best = v }
        j += 1
    }
    if any(nan) {
        for i in 0..<width where row[i].isNaN { return Int32(i) }
    }
    for i in 0..<width where row[i] == best { return Int32(i) }
    return 0
}

/// What a router's forward knows about its rows after ``RouterRowPass/run(logits:probabilities:choices:rows:experts:columnSums:squaredLogSumExp:)``.
final class RouterRowPass {
    /// log Σ exp of each row's logits, n.
    private(set) var logSumExp: [Float] = []
    /// Per expert: the number of rows whose argmax it is.
    fileprivate(set) var counts: [Int] = []
    /// Per expert: Σ over rows of its probability (block sums added in block order).
    fileprivate(set) var columnSums: [Float] = []
    /// Σ over rows of lse² (block sums added in block order).
    fileprivate(set) var squaredLogSumExpSum: Float = 0

    private var blockCounts: [Int32] = []
    private var blockSums: [Float] = []
    private var blockSquares: [Float] = []

    /// One pass over the n × E `logits`: softmax into `probabilities`, log-sum-exp, argmax of the
    /// probabilities into `choices`, and, when asked, the column sums of the probabilities and
    /// Σ lse², with the expert counts of the argmaxes.
    /// `computeLogits(rows)`, when given, is called for each block of rows just before the
    /// block is read, to write its logits (the gate's product for those rows, so that they are
    /// still in cache when the softmax reads them); `afterBlock(part, rows)` after the block's
    /// probabilities are written (part: which thread's range of blocks it belongs to).
    func run(logits: UnsafePointer<Float>, probabilities p: UnsafeMutablePointer<Float>,
             choices: UnsafeMutablePointer<Int32>, rows n: Int, experts e: Int,
             columnSums wantSums: Bool, squaredLogSumExp wantSquares: Bool,
             computeLogits: ((Range<Int>) -> Void)? = nil,
             afterBlock: ((_ part: Int, _ rows: Range<Int>) -> Void)? = nil) {
        let blocks = (n + routerBlockRows - 1) / routerBlockRows
        if logSumExp.count < n { logSumExp = [Float](repeating: 0, count: n) }
        if blockCounts.count < blocks * e { blockCounts = [Int32](repeating: 0, count: blocks * e) }
        if wantSums && blockSums.count < blocks * e { blockSums = [Float](repeating: 0, count: blocks * e) }
        if blockSquares.count < blocks { blockSquares = [Float](repeating: 0, count: blocks) }
        counts = [Int](repeating: 0, count: e)
        columnSums = [Float](repeating: 0, count: e)
        squaredLogSumExpSum = 0
        guard n > 0, e > 0 else { return }
        logSumExp.withUnsafeMutableBufferPointer { lseBuffer in
        blockCounts.withUnsafeMutableBufferPointer { countBuffer in
        blockSums.withUnsafeMutableBufferPointer { sumBuffer in
        blockSquares.withUnsafeMutableBufferPointer { squareBuffer in
            let lse = lseBuffer.baseAddress!, bc = countBuffer.baseAddress!, bsq = squareBuffer.baseAddress!
            let bs = sumBuffer.baseAddress
            // With the gate's product inside, a row is worth more work: split smaller problems.
            forEachRowBlockInParts(n, width: computeLogits == nil ? e : max(e, 64)) { part, b, rows in
                let r0 = rows.lowerBound, count = rows.count
                computeLogits?(rows)
                softmaxRows(logits + r0 * e, into: p + r0 * e, rows: count, width: e, logSumExp: lse + r0)
                let myCounts = bc + b * e
                myCounts.update(repeating: 0, count: e)
                for t in rows {
                    let c = rowArgmax(p + t * e, width: e)
                    choices[t] = c
                    if c >= 0 { myCounts[Int(c)] += 1 }
                }
                if wantSums, let bs {
                    let sums = bs + b * e
                    sums.update(repeating: 0, count: e)
                    for t in rows {
                        let row = p + t * e
                        var j = 0
                        while j + 8 <= e {
                            storeVector(loadVector(sums, j) + loadVector(row, j), sums, j)
                            j += 8
                        }
                        while j < e { sums[j] += row[j]; j += 1 }
                    }
                }
                if wantSquares {
                    var z: Float = 0
                    for t in rows { z += lse[t] * lse[t] }
                    bsq[b] = z
                }
                afterBlock?(part, rows)
            }
            for b in 0..<blocks {
                for j in 0..<e { counts[j] += Int(bc[b * e + j]) }
                if wantSums, let bs { for j in 0..<e { columnSums[j] += bs[b * e + j] } }
                if wantSquares { squaredLogSumExpSum += bsq[b] }
            }
        }
        }
        }
        }
    }
}

/// The softmax backward of one row in place: given dL/dp in `g`, writes dL/dlogit
/// `g_j ← p_j·(g_j − Σ_k g_k p_k) + z·p_j` (z = 0: no extra term).
@inline(__always)
func softmaxRowBackwardInPlace(_ g: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>,
                               width e: Int, extra z: Float) {
    var acc = FloatVector()
    var j = 0
    while j + 8 <= e {
        acc += loadVector(g, j) * loadVector(p, j)
        j += 8
    }
    var dot = acc.sum()
    while j < e { dot += g[j] * p[j]; j += 1 }
    let dv = FloatVector(repeating: dot), zv = FloatVector(repeating: z)
    j = 0
    if z != 0 {
        while j + 8 <= e {
            let pv = loadVector(p, j)
            storeVector(pv * (loadVector(g, j) - dv) + zv * pv, g, j)
            j += 8
        }
        while j < e { g[j] = p[j] * (g[j] - dot) + z * p[j]; j += 1 }
    } else {
        while j + 8 <= e {
            let pv = loadVector(p, j)
            storeVector(pv * (loadVector(g, j) - dv), g, j)
            j += 8
        }
        while j < e { g[j] = p[j] * (g[j] - dot); j += 1 }
    }
}

/// The backward of a softmax router through its gate: for each token t, dL/dp_te = `base[e]`
/// + Σ of `dWeights[i]` over the plan's assignments i = (t, e) (found through the plan's token
/// index, `expertOf[i]` their experts), then the softmax backward, plus `zScale · lse_t · p_te`
/// (the z-loss) when `logSumExp` is given, written to the gate's ``RouterGate/dLogits``; the
/// gate then adds dW and dInput (``RouterGate/backward(_:tokenCount:dInput:computingGradients:)``,
/// which computes the rows of dL/dlogits chunk by chunk right before its products use them).
func routerBackward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, expertOf: UnsafePointer<Int32>,
                    probabilities p: UnsafePointer<Float>, base: UnsafePointer<Float>?,
                    logSumExp: UnsafePointer<Float>?, zScale: Float, gate: RouterGate,
                    input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
    let n = plan.tokenCount, e = gate.experts
    let dLogits = gate.dLogits.pointer
    plan.withTokenIndex { offsets, entries in
        gate.backward(x, tokenCount: n, dInput: dInput) { rows in
            for t in rows {
                let g = dLogits + t * e
                if let base { g.update(from: base, count: e) } else { g.update(repeating: 0, count: e) }
                for q in Int(offsets[t]) ..< Int(offsets[t + 1]) {
                    let i = Int(entries[q])
                    g[Int(expertOf[i])] += dWeights[i]
                }
                let z = logSumExp.map { zScale * $0[t] } ?? 0
                softmaxRowBackwardInPlace(g, probabilities: p + t * e, width: e, extra: z)
            }
        }
    }
}

extension RouterRowPass {
    /// Calls `body` with the log-sum-exps of the last ``run(logits:probabilities:choices:rows:experts:columnSums:squaredLogSumExp:)``.
    func withLogSumExp<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        logSumExp.withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(bitPattern: 8)!) }
    }
}

/// `expertOf[i]` = the expert of assignment i of `plan` (from its expert offsets).
func fillExpertOfAssignment(_ plan: RoutingPlan, into expertOf: inout [Int32]) {
    let a = plan.assignmentCount
    if expertOf.count < a { expertOf = [Int32](repeating: 0, count: a) }
    expertOf.withUnsafeMutableBufferPointer { out in
        for e in 0..<plan.expertCount {
            for i in plan.range(ofExpert: e) { out[i] = Int32(e) }
        }
    }
}

extension RouterRowPass {
    /// For scores computed elsewhere (sigmoid gates): each row's argmax into `choices`, the
    /// expert counts of the argmaxes and, when asked, the column sums of the scores, in token
    /// order on the calling thread (the same bits for any thread count).
    func countAndSum(scores p: UnsafePointer<Float>, choices: inout [Int32], rows n: Int, experts e: Int, columnSums wantSums: Bool) {
        counts = [Int](repeating: 0, count: e)
        columnSums = [Float](repeating: 0, count: e)
        squaredLogSumExpSum = 0
        for t in 0..<n {
            let c = rowArgmax(p + t * e, width: e)
            choices[t] = c
            counts[Int(c)] += 1
            if wantSums { for j in 0..<e { columnSums[j] += p[t * e + j] } }
        }
    }
}
