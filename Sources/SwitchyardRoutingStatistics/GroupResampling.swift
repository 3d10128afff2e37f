import SwitchyardTraces

/// The bootstrap of the load numbers over routing groups: the consecutive runs of tokens a
/// router routed together (``RoutingTrace/routingGroups``, one batch each).
///
/// A capacity (Switch, top-2) or Expert Choice's per-expert k applies per group, so the loads
/// of one group are not sums of independent tokens: an expert whose buffer filled up in a batch
/// took no more tokens of that batch, whatever they were. Resampling tokens or images from all
/// groups at once breaks that bound — the resampled loads can exceed what any batch allowed, and
/// the interval of a balanced layer lies above its estimate. Groups themselves are independent
/// (the router's parameters are fixed while a trace is recorded), so they are the units to
/// resample: the cluster bootstrap (Davison & Hinkley 1997, §3.8), drawing G groups with
/// replacement from the G recorded ones and summing their per-expert loads.
///
/// When G · L · E would exceed `maximumCells` (the work of one replicate: the image bootstrap's
/// own budget, ``ResamplingLimits/maxEntries``, 2²⁰ by default), consecutive groups
/// are resampled together in blocks of ``groupsPerUnit`` (still whole groups), but never fewer
/// than ``minimumUnits`` units are kept, so with 11–19 groups of very many (layer, expert)
/// pairs the table may hold up to about twice `maximumCells` cells. With fewer than
/// ``minimumUnits`` groups (or blocks) a percentile interval over so few clusters means little,
/// and with L · E above `maximumCells` / ``minimumUnits`` the table does not fit the budget:
/// in both cases there is no group bootstrap and the load intervals stay those of the image
/// bootstrap.
struct RoutingGroupLoads {
    /// The fewest resampled units (groups, or blocks of groups) for a group bootstrap.
    static let minimumUnits = 10

    /// Routing groups in the trace.
    let groupCount: Int
    /// Consecutive groups per resampled unit (1 unless the groups are too many).
    let groupsPerUnit: Int
    /// Resampled units: ⌈groupCount / groupsPerUnit⌉.
    let unitCount: Int
    /// Layers.
    let layerCount: Int
    /// Experts per layer.
    let expertCount: Int
    /// Assignments per unit and (layer, expert): `unitCount × (layerCount · expertCount)`.
    let loads: [Double]
    /// Tokens per unit.
    let tokens: [Double]

    /// The per-group loads of `trace`, or nil when there is no group bootstrap (see above:
    /// no groups, fewer than ``minimumUnits`` units, L · E too large) or the groups do not
    /// cover the trace's tokens exactly (the analysis rejects such traces before).
    init?(trace: RoutingTrace, maximumCells budget: Int = ResamplingLimits().maxEntries) {
        let minimum = RoutingGroupLoads.minimumUnits
        guard let groups = trace.routingGroups, groups.count >= minimum,
              (try? trace.validateRoutingGroups()) != nil else { return nil }
        let e = trace.expertCount, l = trace.layers.count
        let (slots, overflow) = l.multipliedReportingOverflow(by: e)
        guard !overflow, slots > 0, slots <= budget / minimum else { return nil }
        // Blocks of perUnit groups, as small as the budget allows but never below `minimum` units.
        let perUnit = min(max(1, (groups.count + budget / slots - 1) / (budget / slots)), groups.count / minimum)
        let units = (groups.count + perUnit - 1) / perUnit   // ≥ minimum, since perUnit ≤ G / minimum
        var loads = [Double](repeating: 0, count: units * slots)
        var tokens = [Double](repeating: 0, count: units)
        var start = 0
        for (g, size) in groups.enumerated() {
            let u = g / perUnit
            tokens[u] += Double(size)
            for (li, layer) in trace.layers.enumerated() {
                let first = Int(layer.offsets[start]), last = Int(layer.offsets[start + size])
                let row = u * slots + li * e
                for j in first..<last { loads[row + Int(layer.experts[j])] += 1 }
            }
            start += size
        }
        groupCount = groups.count
        groupsPerUnit = perUnit
        unitCount = units
        layerCount = l
        expertCount = e
        self.loads = loads
        self.tokens = tokens
    }

    /// The load numbers of every layer and, last, of all layers, for the loads summed over
    /// `multiplicity[u]` copies of each unit u (all ones: the trace itself). Only the load
    /// fields of each ``Headline`` are set.
    func headlines(multiplicity: [Int]) -> [Headline] {
        let e = expertCount, slots = layerCount * e
        var sum = [Double](repeating: 0, count: slots)
        var tokenSum = 0.0
        loads.withUnsafeBufferPointer { table in
            sum.withUnsafeMutableBufferPointer { s in
                for u in 0..<unitCount where multiplicity[u] > 0 {
                    let m = Double(multiplicity[u]), row = table.baseAddress! + u * slots
                    for j in 0..<slots { s[j] += m * row[j] }
                    tokenSum += m * tokens[u]
                }
            }
        }
        var out: [Headline] = []
        for scope in 0...layerCount {
            let counts = scope < layerCount ? Array(sum[(scope * e)..<((scope + 1) * e)]) : sum
            let load = LoadSummary(counts)
            var h = Headline()
            h.cv = load.cv
            h.gini = load.gini
            h.maxVio = load.maxVio
            h.shares = load.shares
            h.cvSquaredUnbiased = load.cvSquaredUnbiased
            h.meanExpertsPerToken = counts.reduce(0, +) / (tokenSum * Double(scope < layerCount ? 1 : layerCount))
            out.append(h)
        }
        return out
    }

    /// `resamples` bootstrap replicates of the load numbers per scope (layers, then all
    /// layers): each draws ``unitCount`` units with replacement from GSL stream 4 of `seed`.
    func replicates(resamples: Int, seed: UInt64) -> [[Headline]] {
        let rng = GSLRandom(seed: seed, stream: 4)
        var out = [[Headline]](repeating: [], count: layerCount + 1)
        var multiplicity = [Int](repeating: 0, count: unitCount)
        for _ in 0..<resamples {
            for u in 0..<unitCount { multiplicity[u] = 0 }
            for _ in 0..<unitCount { multiplicity[rng.uniformInt(unitCount)] += 1 }
            let h = headlines(multiplicity: multiplicity)
            for s in 0...layerCount { out[s].append(h[s]) }
        }
        return out
    }
}
