import CGSL
import FileIO
import Foundation
import Traces

/// Bounds on the work of one bootstrap replicate or permutation.
struct ResamplingLimits {
    /// Most rows in the per-unit form; beyond it units are resampled in blocks.
    var maxRows = 32_768
    /// Most (joint pattern, class) cells for the grouped form (each costs a binomial or
    /// hypergeometric draw per replicate).
    var maxGroupedCells = 8_192
}

/// The units the bootstrap resamples and the permutation test permutes, in a form where
/// one replicate costs little: "rows", each of one class, with a token count and, per
/// layer, a few (pattern, count) entries. Every statistic that is bootstrapped is a
/// function of the per-layer class × pattern tables `Σ_rows weight · entry`.
///
/// The bootstrap is stratified by class (each class keeps its size; Davison & Hinkley
/// 1997, §3.2), the permutation test permutes labels over units. Three forms:
/// - grouped (tokens only): tokens with the same class and the same pattern in every
///   layer are interchangeable, so rows are (joint pattern, class) cells with their
///   multiplicity; resampling a class's tokens is a multinomial draw over its cells
///   (`gsl_ran_multinomial`), permuting labels a multivariate hypergeometric draw of each
///   joint pattern's classes. Exact, used when the cells are few.
/// - per unit: one row per unit (token or image).
/// - blocks: when units are too many, each class's units in trace order are cut into
///   blocks of b consecutive units (the last one shorter) and blocks are resampled
///   (a non-overlapping block bootstrap, Carlstein 1986); labels are permuted among
///   blocks of equal size. Neighbouring tokens stay together, which keeps their dependence.
struct ResamplingPlan {
    /// "tokens" or "images".
    var unitName: String
    /// Units (tokens or images).
    var unitCount: Int
    /// "grouped", "per_unit" or "blocks".
    var method: String
    /// Units per block (1 unless blocks).
    var blockSize: Int
    /// Rows.
    var rowCount: Int
    /// Class of each row.
    var rowClass: [Int32]
    /// Tokens per row.
    var rowTokens: [Double]
    /// Units per row in the grouped form (the cell counts); nil otherwise.
    var multiplicity: [UInt32]?
    /// Classes (grouped rows are `jointPattern · classCount + class`).
    var classCount: Int
    /// Whether the entries' columns are experts (per unit and blocks: a row's assignments
    /// per expert) rather than routing patterns (grouped).
    var columnsAreExperts: Bool
    /// Per layer: the rows' (column, count) entries.
    var layers: [RowEntries]
    /// Rows of each class that the stratified bootstrap draws from (grouped: cells with
    /// units).
    var rowsByClass: [[Int32]]
    /// Sets of rows whose classes may be exchanged by the permutation test (per unit and
    /// blocks: rows with the same number of units).
    var permutationGroups: [[Int32]]
}

/// One layer's (column, count) entries per row, the column a pattern or an expert: CSR
/// when `offsets` is set, otherwise exactly one entry of count 1 per row.
struct RowEntries {
    var offsets: [Int32]?
    var pattern: [Int32]
    var count: [Double]?
}

/// Groups of tokens by image: runs of consecutive tokens whose positions go up by
/// exactly one, every run starting at the same position (0 with a CLS token). Returns
/// the runs' start indices plus the token count, or nil when no run has more than one
/// token, the runs start at different positions (e.g. shuffled tokens) or the labels
/// vary inside a run.
func imageGroups(positions: [Int32], labels: [Int32]?) -> [Int32]? {
    let n = positions.count
    guard n > 1 else { return nil }
    var starts: [Int32] = [0]
    for t in 1..<n where positions[t] != positions[t - 1] &+ 1 {
        guard positions[t] == positions[0] else { return nil }
        starts.append(Int32(t))
    }
    starts.append(Int32(n))
    guard starts.count - 1 < n else { return nil }
    if let labels {
        for g in 0..<(starts.count - 1) {
            let s = Int(starts[g]), e = Int(starts[g + 1])
            for t in s..<e where labels[t] != labels[s] { return nil }
        }
    }
    return starts
}

/// Builds the plan for `trace` with the layers already reduced.
func makeResamplingPlan(trace: RoutingTrace, reductions: [LayerReduction], shape: TraceShape,
                        unit: ResamplingUnit, source: String?, allowGrouping: Bool = true,
                        limits: ResamplingLimits = ResamplingLimits()) throws -> ResamplingPlan {
    let n = trace.tokenCount, classCount = shape.classCount
    var groups: [Int32]? = nil
    switch unit {
    case .tokens: break
    case .automatic:
        if let positions = trace.positions { groups = imageGroups(positions: positions, labels: trace.labels) }
    case .images:
        guard let positions = trace.positions else {
            throw InputError(file: source, location: "positions",
                             message: "resampling by image needs token positions, and the trace has none")
        }
        guard let g = imageGroups(positions: positions, labels: trace.labels) else {
            throw InputError(file: source, location: "positions",
                             message: "the positions do not group tokens into images (runs of consecutive positions starting at the same position, one label each)")
        }
        groups = g
    }
    if groups == nil, allowGrouping,
       let plan = groupedTokenPlan(trace: trace, reductions: reductions, classCount: classCount,
                                   maxCells: limits.maxGroupedCells) {
        return plan
    }
    let starts = groups ?? (0...n).map { Int32($0) }
    return unitPlan(trace: trace, reductions: reductions, classCount: classCount, starts: starts,
                    unitName: groups == nil ? "tokens" : "images", maxRows: limits.maxRows)
}

/// Rows of one unit each, or of blocks of consecutive same-class units.
private func unitPlan(trace: RoutingTrace, reductions: [LayerReduction], classCount: Int, starts: [Int32],
                      unitName: String, maxRows: Int) -> ResamplingPlan {
    let units = starts.count - 1
    let blockSize = max(1, (units + maxRows - 1) / maxRows)
    // Units ordered by class, stable in trace order.
    var unitClass = [Int32](repeating: 0, count: units)
    if let labels = trace.labels {
        for u in 0..<units { unitClass[u] = labels[Int(starts[u])] }
    }
    var classStart = [Int](repeating: 0, count: classCount + 1)
    for u in 0..<units { classStart[Int(unitClass[u]) + 1] += 1 }
    for c in 0..<classCount { classStart[c + 1] += classStart[c] }
    var order = [Int32](repeating: 0, count: units)
    var fill = classStart
    for u in 0..<units {
        let c = Int(unitClass[u])
        order[fill[c]] = Int32(u)
        fill[c] += 1
    }
    // Rows: each class's units cut into blocks.
    var rowFirst: [Int] = [], rowClass: [Int32] = [], rowsByClass = [[Int32]](repeating: [], count: classCount)
    var sizeGroups: [Int: [Int32]] = [:]
    for c in 0..<classCount {
        var first = classStart[c]
        while first < classStart[c + 1] {
            let size = min(blockSize, classStart[c + 1] - first)
            let row = Int32(rowFirst.count)
            rowFirst.append(first)
            rowClass.append(Int32(c))
            rowsByClass[c].append(row)
            sizeGroups[size, default: []].append(row)
            first += size
        }
    }
    rowFirst.append(units)
    let rows = rowClass.count
    var rowTokens = [Double](repeating: 0, count: rows)
    for r in 0..<rows {
        for i in rowFirst[r]..<rowFirst[r + 1] {
            let u = Int(order[i])
            rowTokens[r] += Double(Int(starts[u + 1]) - Int(starts[u]))
        }
    }
    // Entries per row and layer are assignments per expert (at most E), which is all the
    // bootstrapped statistics need, rather than per pattern (up to 2^E).
    let e = trace.expertCount
    var layers: [RowEntries] = []
    for reduction in reductions {
        var memberOffsets: [Int32] = [0], members: [Int32] = []
        for list in reduction.patternExperts {
            members += list
            memberOffsets.append(Int32(members.count))
        }
        var offsets = [Int32](repeating: 0, count: rows + 1)
        var expert: [Int32] = [], count: [Double] = []
        expert.reserveCapacity(rows * 2)
        count.reserveCapacity(rows * 2)
        var scratch = [Int32](repeating: 0, count: e)
        var touched: [Int32] = []
        reduction.patternOfToken.withUnsafeBufferPointer { pat in
        memberOffsets.withUnsafeBufferPointer { mo in
        members.withUnsafeBufferPointer { mem in
            for r in 0..<rows {
                for i in rowFirst[r]..<rowFirst[r + 1] {
                    let u = Int(order[i])
                    for t in Int(starts[u])..<Int(starts[u + 1]) {
                        let p = Int(pat[t])
                        for j in Int(mo[p])..<Int(mo[p + 1]) {
                            let x = Int(mem[j])
                            if scratch[x] == 0 { touched.append(Int32(x)) }
                            scratch[x] += 1
                        }
                    }
                }
                for x in touched {
                    expert.append(x)
                    count.append(Double(scratch[Int(x)]))
                    scratch[Int(x)] = 0
                }
                touched.removeAll(keepingCapacity: true)
                offsets[r + 1] = Int32(expert.count)
            }
        }}}
        layers.append(RowEntries(offsets: offsets, pattern: expert, count: count))
    }
    return ResamplingPlan(unitName: unitName, unitCount: units, method: blockSize > 1 ? "blocks" : "per_unit",
                          blockSize: blockSize, rowCount: rows, rowClass: rowClass, rowTokens: rowTokens,
                          multiplicity: nil, classCount: classCount, columnsAreExperts: true, layers: layers,
                          rowsByClass: rowsByClass,
                          permutationGroups: sizeGroups.keys.sorted().map { sizeGroups[$0]! })
}

/// Tokens grouped into (joint pattern, class) cells, or nil when there are more than
/// `maxCells` cells.
private func groupedTokenPlan(trace: RoutingTrace, reductions: [LayerReduction],
                              classCount: Int, maxCells: Int) -> ResamplingPlan? {
    let n = trace.tokenCount
    guard n <= Int(UInt32.max) else { return nil }
    var joint = [Int32](repeating: 0, count: n)
    var jointCount = 1
    for r in reductions {
        let p = r.patternCount
        let keyspace = jointCount * p
        guard keyspace <= 1 << 24, jointCount * classCount <= maxCells else { return nil }
        var table = [Int32](repeating: -1, count: keyspace)
        var next: Int32 = 0
        joint.withUnsafeMutableBufferPointer { j in
        r.patternOfToken.withUnsafeBufferPointer { pat in
        table.withUnsafeMutableBufferPointer { tb in
            for t in 0..<n {
                let key = Int(j[t]) * p + Int(pat[t])
                var id = tb[key]
                if id < 0 { id = next; tb[key] = id; next += 1 }
                j[t] = id
            }
        }}}
        jointCount = Int(next)
    }
    let rows = jointCount * classCount
    guard rows <= maxCells else { return nil }
    // Each joint pattern's per-layer pattern, and the cell counts.
    var jointPatterns = [[Int32]](repeating: [Int32](repeating: -1, count: jointCount), count: reductions.count)
    var multiplicity = [UInt32](repeating: 0, count: rows)
    var seen = [Bool](repeating: false, count: jointCount)
    for t in 0..<n {
        let j = Int(joint[t])
        let c = trace.labels.map { Int($0[t]) } ?? 0
        multiplicity[j * classCount + c] += 1
        if !seen[j] {
            seen[j] = true
            for l in reductions.indices { jointPatterns[l][j] = reductions[l].patternOfToken[t] }
        }
    }
    var rowClass = [Int32](repeating: 0, count: rows)
    var rowsByClass = [[Int32]](repeating: [], count: classCount)
    for row in 0..<rows {
        rowClass[row] = Int32(row % classCount)
        if multiplicity[row] > 0 { rowsByClass[row % classCount].append(Int32(row)) }
    }
    let layers = jointPatterns.map { jp -> RowEntries in
        var pattern = [Int32](repeating: 0, count: rows)
        for row in 0..<rows { pattern[row] = jp[row / classCount] }
        return RowEntries(offsets: nil, pattern: pattern, count: nil)
    }
    return ResamplingPlan(unitName: "tokens", unitCount: n, method: "grouped", blockSize: 1, rowCount: rows,
                          rowClass: rowClass, rowTokens: [Double](repeating: 1, count: rows),
                          multiplicity: multiplicity, classCount: classCount, columnsAreExperts: false,
                          layers: layers,
                          rowsByClass: rowsByClass, permutationGroups: [])
}

extension ResamplingPlan {
    /// Adds `weights[row] · entry` of every row into the per-layer class × column tables
    /// `tables[l]` (row-major `classCount × patternCounts[l]` columns), with the rows'
    /// classes taken from `classes`.
    func accumulate(weights: UnsafePointer<UInt32>, classes: UnsafePointer<Int32>,
                    patternCounts: [Int], into tables: inout [[Double]]) {
        for l in layers.indices {
            let p = patternCounts[l]
            let entries = layers[l]
            tables[l].withUnsafeMutableBufferPointer { tb in
                for i in 0..<tb.count { tb[i] = 0 }
                entries.pattern.withUnsafeBufferPointer { pat in
                    if let offsets = entries.offsets {
                        let counts = entries.count!
                        offsets.withUnsafeBufferPointer { off in
                        counts.withUnsafeBufferPointer { cnt in
                            for row in 0..<rowCount {
                                let w = weights[row]
                                if w == 0 { continue }
                                let base = Int(classes[row]) * p
                                let dw = Double(w)
                                for j in Int(off[row])..<Int(off[row + 1]) {
                                    tb[base + Int(pat[j])] += dw * cnt[j]
                                }
                            }
                        }}
                    } else {
                        for row in 0..<rowCount {
                            let w = weights[row]
                            if w == 0 { continue }
                            tb[Int(classes[row]) * p + Int(pat[row])] += Double(w)
                        }
                    }
                }
            }
        }
    }

    /// Tokens under `weights`.
    func tokens(weights: UnsafePointer<UInt32>) -> Double {
        var s = 0.0
        for row in 0..<rowCount where weights[row] != 0 { s += Double(weights[row]) * rowTokens[row] }
        return s
    }

    /// The weights that reproduce the data: multiplicities, or 1 per row.
    func observedWeights() -> [UInt32] {
        multiplicity ?? [UInt32](repeating: 1, count: rowCount)
    }

    /// One stratified bootstrap replicate as weights per row: within each class, as many
    /// units (grouped: tokens; otherwise rows) as it has, drawn with replacement.
    func bootstrapWeights(_ rng: GSLRandom, into weights: inout [UInt32]) {
        weights.withUnsafeMutableBufferPointer { w in
            for i in 0..<rowCount { w[i] = 0 }
            if let m = multiplicity {
                var p: [Double] = [], drawn: [UInt32] = []
                for rows in rowsByClass where !rows.isEmpty {
                    p = rows.map { Double(m[Int($0)]) }
                    let units = rows.reduce(0) { $0 + Int(m[Int($1)]) }
                    drawn = [UInt32](repeating: 0, count: rows.count)
                    p.withUnsafeBufferPointer { pp in
                    drawn.withUnsafeMutableBufferPointer { d in
                        gsl_ran_multinomial(rng.pointer, rows.count, UInt32(units), pp.baseAddress, d.baseAddress)
                    }}
                    for (i, row) in rows.enumerated() { w[Int(row)] = drawn[i] }
                }
            } else {
                for rows in rowsByClass where !rows.isEmpty {
                    rows.withUnsafeBufferPointer { r in
                        for _ in 0..<r.count { w[Int(r[rng.uniformInt(r.count)])] &+= 1 }
                    }
                }
            }
        }
    }

    /// One permutation of the labels over units. Grouped: each joint pattern's tokens get
    /// classes by a multivariate hypergeometric draw from the remaining class totals,
    /// written as weights over the (joint pattern, class) rows with the fixed row
    /// classes. Otherwise the classes of the rows in each permutation group are shuffled
    /// (`gsl_ran_shuffle`), weights stay 1.
    func permute(_ rng: GSLRandom, weights: inout [UInt32], classes: inout [Int32], classTotals: [Int]) {
        if let m = multiplicity {
            var remaining = classTotals
            let jointCount = rowCount / classCount
            weights.withUnsafeMutableBufferPointer { w in
                for j in 0..<jointCount {
                    var units = 0
                    for c in 0..<classCount { units += Int(m[j * classCount + c]) }
                    var pool = remaining.reduce(0, +)
                    for c in 0..<classCount {
                        let take: Int
                        if units == 0 { take = 0 }
                        else if c == classCount - 1 { take = units }
                        else { take = rng.hypergeometric(good: remaining[c], bad: pool - remaining[c], sample: units) }
                        w[j * classCount + c] = UInt32(take)
                        pool -= remaining[c]
                        remaining[c] -= take
                        units -= take
                    }
                }
            }
        } else {
            var buffer: [Int32] = []
            for group in permutationGroups where group.count > 1 {
                buffer = group.map { classes[Int($0)] }
                buffer.withUnsafeMutableBufferPointer { b in
                    gsl_ran_shuffle(rng.pointer, b.baseAddress, b.count, MemoryLayout<Int32>.stride)
                }
                for (i, row) in group.enumerated() { classes[Int(row)] = buffer[i] }
            }
        }
    }
}
