import CGSL
import SwitchyardFileIO
import Foundation
import SwitchyardTraces

/// Bounds on the work of one bootstrap replicate or permutation.
struct ResamplingLimits {
    /// Most rows in the per-unit form; beyond it units are resampled in blocks.
    var maxRows = 32_768
    /// Most (row, layer, expert) entries, the work of one replicate; beyond it blocks grow.
    var maxEntries = 1 << 20
    /// Most (joint pattern, class) cells for the grouped form (each costs a binomial or
    /// hypergeometric draw per replicate).
    var maxGroupedCells = 8_192
    /// Most routing patterns numbered per layer (``PatternTable``); beyond it each token is its
    /// own pattern and the grouped form is not used. Every count is the same either way.
    var maxPatterns = 1 << 16
    /// Most assignment visits of the exact class permutation test over all its permutations
    /// (about half a second); beyond it the test runs on a random subset of whole units.
    var permutationBudget = 1 << 27
    /// Class × (layer, expert) cells beyond which labels that leave classes unused are renumbered
    /// to those that occur (``OccurringLabels``).
    var occurringLabelCells = 1 << 20
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
/// - blocks: when units are too many (rows or per-expert entries over the limits), each
///   class's units in trace order are cut into blocks of b consecutive units (the last
///   one shorter) and blocks are resampled
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
    /// Every row with units, when the bootstrap does not stratify by class (``Stratification``):
    /// it draws from them as one stratum. Nil: stratified.
    var pooledRows: [Int32]? = nil
    /// Sets of rows whose classes may be exchanged by the permutation test (per unit and
    /// blocks: rows with the same number of units).
    var permutationGroups: [[Int32]]
    /// Per unit and blocks: each unit's token range `unitStarts[u] ..< unitStarts[u + 1]`,
    /// for the exact unit-level permutation test (``UnitPermutation``); nil when grouped.
    var unitStarts: [Int32]? = nil
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
    var runs = ImageRuns()
    runs.add(positions, labels: labels)
    return runs.groups(labelled: labels != nil)
}

/// ``imageGroups(positions:labels:)`` over positions (and labels) given a chunk at a time, as the
/// one-pass analysis reads them.
struct ImageRuns {
    /// The runs' start indices so far.
    private(set) var starts: [Int32] = [0]
    private var consistent = true, labelsConstant = true
    private var first: Int32 = 0, previous: Int32 = 0, runLabel: Int32 = 0
    private var tokens = 0

    mutating func add(_ positions: [Int32], labels: [Int32]?) {
        guard consistent else { return }
        for (i, p) in positions.enumerated() {
            let t = tokens + i
            if t == 0 {
                first = p
            } else if p != previous &+ 1 {
                guard p == first else { consistent = false; return }
                starts.append(Int32(t))
            }
            previous = p
            if let labels {
                if Int32(t) == starts[starts.count - 1] { runLabel = labels[i] } else if labels[i] != runLabel { labelsConstant = false }
            }
        }
        tokens += positions.count
    }

    /// The runs' starts plus the token count, or nil (no run of two tokens, inconsistent starts,
    /// or, when the labels count, a label that varies inside a run).
    func groups(labelled: Bool) -> [Int32]? {
        guard consistent, tokens > 1, starts.count < tokens, !labelled || labelsConstant else { return nil }
        return starts + [Int32(tokens)]
    }
}

/// Whether the bootstrap draws from all units as one stratum: asked for, or automatic when the
/// labels are token ids (`tokenIDs`: a corpus's composition is not a design) or more than 20 %
/// of the units are in classes of fewer than 5 units, whose resamples could hardly differ from
/// the data.
func pools(_ stratification: Stratification, unitsPerClass: [Int], tokenIDs: Bool) -> Bool {
    switch stratification {
    case .byClass: return false
    case .none: return true
    case .automatic:
        if tokenIDs { return true }
        let total = unitsPerClass.reduce(0, +)
        let inSmall = unitsPerClass.reduce(0) { $0 + ($1 > 0 && $1 < 5 ? $1 : 0) }
        return 5 * inSmall > total
    }
}

/// The first token of each routing group of `trace`, plus the token count; nil without groups.
func routingGroupStarts(_ trace: RoutingTrace) -> [Int32]? {
    guard let sizes = trace.routingGroups else { return nil }
    var starts: [Int32] = [0]
    starts.reserveCapacity(sizes.count + 1)
    for size in sizes { starts.append(starts.last! + Int32(size)) }
    return starts
}

/// The image groups of `trace` (``imageGroups(positions:labels:)``), or nil for a trace
/// that says it holds sequences: consecutive positions with one label each there are a
/// sequence of repeated tokens, not an image.
func imageGroups(_ trace: RoutingTrace) -> [Int32]? {
    guard trace.kind != .sequences, let positions = trace.positions else { return nil }
    return imageGroups(positions: positions, labels: trace.labels)
}

/// Builds the plan for `trace` with the layers already reduced.
func makeResamplingPlan(trace: RoutingTrace, reductions: [LayerReduction], shape: TraceShape,
                        unit: ResamplingUnit, source: String?, allowGrouping: Bool = true,
                        limits: ResamplingLimits = ResamplingLimits(),
                        stratification: Stratification = .automatic) throws -> ResamplingPlan {
    let n = trace.tokenCount, classCount = shape.classCount
    var groups: [Int32]? = nil
    switch unit {
    case .tokens: break
    case .automatic:
        groups = imageGroups(trace)
    case .images:
        if trace.kind == .sequences {
            throw InputError(file: source, location: "resampling unit",
                             message: "the trace holds sequences (its metadata says so), not images; resample tokens or leave the unit automatic")
        }
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
       var plan = groupedTokenPlan(trace: trace, reductions: reductions, classCount: classCount,
                                   maxCells: limits.maxGroupedCells) {
        var unitsPerClass = [Int](repeating: 0, count: classCount)
        for (row, m) in plan.multiplicity!.enumerated() { unitsPerClass[row % classCount] += Int(m) }
        if pools(stratification, unitsPerClass: unitsPerClass, tokenIDs: trace.kind == .sequences) {
            plan.pooledRows = plan.rowsByClass.flatMap { $0 }
        }
        return plan
    }
    let starts = groups ?? (0...n).map { Int32($0) }
    let units = UnitOrder(starts: starts, labels: trace.labels, classCount: classCount)
    let members = reductions.map(\.members)
    // Blocks as small as the budget allows: at most maxRows rows and about maxEntries
    // entries (estimated from a sample of rows, then checked on the plan).
    let target = 0.8 * Double(limits.maxEntries)
    var blockSize = max(1, (units.count + limits.maxRows - 1) / limits.maxRows)
    // Growing by at least 25 % per step keeps the search short when every block already
    // holds all experts and entries only fall with the number of rows.
    func grown(_ entries: Double) -> Int {
        min(units.count, max(blockSize + 1, Int((Double(blockSize) * max(1.25, entries / target)).rounded(.up))))
    }
    while blockSize < units.count {
        let estimate = units.estimatedEntries(blockSize: blockSize, members: members, experts: trace.expertCount)
        if estimate <= target { break }
        blockSize = grown(estimate)
    }
    while true {
        var plan = unitPlan(trace: trace, members: members, units: units, classCount: classCount,
                            unitName: groups == nil ? "tokens" : "images", blockSize: blockSize)
        let entries = plan.layers.reduce(0) { $0 + $1.pattern.count }
        if entries <= limits.maxEntries || blockSize >= units.count {
            let unitsPerClass = (0..<classCount).map { units.classStart[$0 + 1] - units.classStart[$0] }
            if pools(stratification, unitsPerClass: unitsPerClass, tokenIDs: trace.kind == .sequences) {
                plan.pooledRows = plan.rowsByClass.flatMap { $0 }
            }
            return plan
        }
        blockSize = grown(Double(entries))
    }
}

/// Units (token ranges in trace order) listed by class, stable in trace order.
struct UnitOrder {
    /// Token range of each unit: `starts[u] ..< starts[u + 1]`.
    let starts: [Int32]
    /// Units sorted by class.
    let order: [Int32]
    /// Class c's units are `order[classStart[c] ..< classStart[c + 1]]`.
    let classStart: [Int]

    var count: Int { order.count }

    init(starts: [Int32], labels: [Int32]?, classCount: Int) {
        self.starts = starts
        let units = starts.count - 1
        var unitClass = [Int32](repeating: 0, count: units)
        if let labels {
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
        self.order = order
        self.classStart = classStart
    }

    /// The rows for `blockSize`: each class's units cut into consecutive blocks. Returns
    /// each row's first position in ``order`` (plus the end) and its class.
    func rows(blockSize: Int) -> (first: [Int], classes: [Int32]) {
        var first: [Int] = [], classes: [Int32] = []
        for c in 0..<(classStart.count - 1) {
            var i = classStart[c]
            while i < classStart[c + 1] {
                first.append(i)
                classes.append(Int32(c))
                i += min(blockSize, classStart[c + 1] - i)
            }
        }
        first.append(count)
        return (first, classes)
    }

    /// Distinct (row, layer, expert) entries for `blockSize`, extrapolated from up to 128
    /// evenly spaced rows.
    func estimatedEntries(blockSize: Int, members: [PatternMembers], experts: Int) -> Double {
        let (first, _) = rows(blockSize: blockSize)
        let rowCount = first.count - 1
        let sample = min(rowCount, 128)
        guard sample > 0 else { return 0 }
        var scratch = [Int32](repeating: 0, count: experts)
        var touched: [Int32] = []
        var entries = 0
        order.withUnsafeBufferPointer { ord in
        starts.withUnsafeBufferPointer { st in
        scratch.withUnsafeMutableBufferPointer { sc in
            for k in 0..<sample {
                let r = k * rowCount / sample
                for m in members {
                    m.collect(first[r]..<first[r + 1], order: ord, starts: st, scratch: sc, touched: &touched)
                    entries += touched.count
                    for x in touched { sc[Int(x)] = 0 }
                    touched.removeAll(keepingCapacity: true)
                }
            }
        }}}
        return Double(entries) * Double(rowCount) / Double(sample)
    }
}

/// Rows of one unit each (`blockSize` 1), or of blocks of `blockSize` consecutive
/// same-class units.
func unitPlan(trace: RoutingTrace, members: [PatternMembers], units: UnitOrder, classCount: Int,
                      unitName: String, blockSize: Int) -> ResamplingPlan {
    let (rowFirst, rowClass) = units.rows(blockSize: blockSize)
    let rows = rowClass.count
    var rowsByClass = [[Int32]](repeating: [], count: classCount)
    var sizeGroups: [Int: [Int32]] = [:]
    for r in 0..<rows {
        rowsByClass[Int(rowClass[r])].append(Int32(r))
        sizeGroups[rowFirst[r + 1] - rowFirst[r], default: []].append(Int32(r))
    }
    let order = units.order, starts = units.starts
    var rowTokens = [Double](repeating: 0, count: rows)
    for r in 0..<rows {
        for i in rowFirst[r]..<rowFirst[r + 1] {
            let u = Int(order[i])
            rowTokens[r] += Double(Int(starts[u + 1]) - Int(starts[u]))
        }
    }
    // Entries per row and layer are assignments per expert (at most E), which is all the
    // bootstrapped statistics need, rather than per pattern (up to 2^E).
    var layers: [RowEntries] = []
    for m in members {
        var offsets = [Int32](repeating: 0, count: rows + 1)
        var expert: [Int32] = [], count: [Double] = []
        expert.reserveCapacity(rows * 2)
        count.reserveCapacity(rows * 2)
        var scratch = [Int32](repeating: 0, count: trace.expertCount)
        var touched: [Int32] = []
        order.withUnsafeBufferPointer { ord in
        starts.withUnsafeBufferPointer { st in
        scratch.withUnsafeMutableBufferPointer { sc in
            for r in 0..<rows {
                m.collect(rowFirst[r]..<rowFirst[r + 1], order: ord, starts: st, scratch: sc, touched: &touched)
                for x in touched {
                    expert.append(x)
                    count.append(Double(sc[Int(x)]))
                    sc[Int(x)] = 0
                }
                touched.removeAll(keepingCapacity: true)
                offsets[r + 1] = Int32(expert.count)
            }
        }}}
        layers.append(RowEntries(offsets: offsets, pattern: expert, count: count))
    }
    return ResamplingPlan(unitName: unitName, unitCount: units.count, method: blockSize > 1 ? "blocks" : "per_unit",
                          blockSize: blockSize, rowCount: rows, rowClass: rowClass, rowTokens: rowTokens,
                          multiplicity: nil, classCount: classCount, columnsAreExperts: true, layers: layers,
                          rowsByClass: rowsByClass,
                          permutationGroups: sizeGroups.keys.sorted().map { sizeGroups[$0]! },
                          unitStarts: units.starts)
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
        guard !r.members.tokenIsPattern else { return nil }
        let p = r.patternCount
        let keyspace = jointCount * p
        guard keyspace <= 1 << 24, jointCount * classCount <= maxCells else { return nil }
        var table = [Int32](repeating: -1, count: keyspace)
        var next: Int32 = 0
        joint.withUnsafeMutableBufferPointer { j in
        r.members.patternOfToken.withUnsafeBufferPointer { pat in
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
    var firstToken = [Int](repeating: -1, count: jointCount)
    let classes = trace.labels ?? [Int32](repeating: 0, count: n)
    joint.withUnsafeBufferPointer { j in
    classes.withUnsafeBufferPointer { cls in
    multiplicity.withUnsafeMutableBufferPointer { m in
    firstToken.withUnsafeMutableBufferPointer { first in
        for t in 0..<n {
            let id = Int(j[t])
            m[id * classCount + Int(cls[t])] += 1
            if first[id] < 0 { first[id] = t }
        }
    }}}}
    for l in reductions.indices {
        for id in 0..<jointCount { jointPatterns[l][id] = reductions[l].members.patternOfToken[firstToken[id]] }
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
                for rows in pooledRows.map({ [$0] }) ?? rowsByClass where !rows.isEmpty {
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
                for rows in pooledRows.map({ [$0] }) ?? rowsByClass where !rows.isEmpty {
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
