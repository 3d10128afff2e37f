import SwitchyardTraces

/// Places experts on devices so that the busiest device's load is small and experts chosen
/// together for the same token tend to share a device (docs/expert-parallel.md, "Placement").
///
/// Every device holds ⌊E/D⌋ or ⌈E/D⌉ experts (expert weights take the same memory
/// everywhere, as in Megatron's layout). An expert's load is its number of assignments over
/// the whole trace (with a capacity factor: the assignments it keeps). The algorithm, per layer:
///
/// 1. LPT (longest processing time first, Graham 1969): experts in decreasing load (ties by
///    index) each go to the least-loaded device that still has a free slot (ties by index).
/// 2. Load swaps: while some swap of an expert on the busiest device with a lighter expert
///    elsewhere makes both devices lighter than the busiest was, make the swap that gives the
///    smallest new maximum (ties: the fewest co-activated pairs split, then lowest indices);
///    at most ``swapBudget`` candidate swaps are examined.
/// 3. Co-activation swaps (E ≤ ``ExpertCoActivation/matrixLimit``): passes over all expert
///    pairs on different devices, swapping whenever that splits fewer co-activated pairs and
///    keeps both devices at or below the current maximum load, until a pass changes nothing
///    (at most 20 passes).
///
/// Steps 2 and 3 run from the LPT placement and from the contiguous one; the better result
/// (smaller maximum load, then fewer split pairs, then the LPT one) is returned, so the
/// result is never worse than contiguous placement on the trace's total loads.
public enum PlacementOptimizer {
    /// The balanced placement of every layer of `trace` on `devices` devices. With a capacity
    /// factor, loads are the assignments kept per routing group of `groups`, so that experts
    /// capped by the capacity are not counted for load they never process.
    public static func balanced(_ trace: RoutingTrace, devices: Int, groups: DispatchGroups? = nil,
                                capacityFactor: Double? = nil) -> ExpertPlacement {
        let rows = trace.layers.map { layer in
            optimise(ExpertCoActivation(layer, expertCount: trace.expertCount, groups: groups, capacityFactor: capacityFactor),
                     devices: devices)
        }
        return ExpertPlacement(deviceCount: devices, expertCount: trace.expertCount, devices: rows, kind: .balanced)
    }

    /// The balanced placement (expert → device) for one layer's loads and co-activation.
    public static func optimise(_ stats: ExpertCoActivation, devices: Int) -> [Int] {
        let E = stats.expertCount
        let fromLPT = improve(lpt(stats.loads, devices: devices), stats, devices: devices)
        let fromContiguous = improve((0..<E).map { ExpertPlacement.contiguousDevice(expert: $0, experts: E, devices: devices) },
                                     stats, devices: devices)
        func score(_ p: [Int]) -> (Int, Int) { (maxLoad(p, stats.loads, devices: devices), stats.splitPairs(p) ?? 0) }
        return score(fromContiguous) < score(fromLPT) ? fromContiguous : fromLPT
    }

    /// Candidate swaps step 2 may examine in all (⌈E/D⌉ · E per round): reached only for
    /// tens of thousands of experts, where LPT's placement is kept as step 2 left it.
    public static let swapBudget = 1 << 28

    /// The busiest device's load under `placement`.
    public static func maxLoad(_ placement: [Int], _ loads: [Int], devices: Int) -> Int {
        var device = [Int](repeating: 0, count: devices)
        for (e, d) in placement.enumerated() { device[d] += loads[e] }
        return device.max() ?? 0
    }

    /// Step 1: LPT with ⌊E/D⌋ or ⌈E/D⌉ experts per device.
    static func lpt(_ loads: [Int], devices: Int) -> [Int] {
        let E = loads.count
        let base = E / devices
        var extraLeft = E % devices
        var placement = [Int](repeating: 0, count: E)
        var count = [Int](repeating: 0, count: devices)
        var heap = DeviceHeap(devices: devices)
        let order = (0..<E).sorted { loads[$0] != loads[$1] ? loads[$0] > loads[$1] : $0 < $1 }
        for e in order {
            while true {
                let d = heap.peek()
                // A device has room below ⌊E/D⌋, or at it while ⌈E/D⌉ slots remain.
                if count[d] < base || (count[d] == base && extraLeft > 0) { break }
                heap.removeTop()
            }
            let d = heap.peek()
            placement[e] = d
            if count[d] == base { extraLeft -= 1 }
            count[d] += 1
            heap.addToTop(loads[e])
        }
        return placement
    }

    /// Steps 2 and 3 from `start`.
    static func improve(_ start: [Int], _ stats: ExpertCoActivation, devices D: Int) -> [Int] {
        let E = stats.expertCount, loads = stats.loads
        var place = start
        var deviceLoad = [Int](repeating: 0, count: D)
        var members = [[Int]](repeating: [], count: D)
        for e in 0..<E {
            deviceLoad[place[e]] += loads[e]
            members[place[e]].append(e)
        }
        // w[x·D + d]: co-activated pairs of expert x with the experts on device d.
        var w: [Int] = []
        if let pairs = stats.pairs {
            w = [Int](repeating: 0, count: E * D)
            for x in 0..<E { for y in 0..<E where pairs[x * E + y] != 0 { w[x * D + place[y]] += Int(pairs[x * E + y]) } }
        }
        func splitChange(_ a: Int, _ c: Int) -> Int {
            guard let pairs = stats.pairs else { return 0 }
            let A = place[a], C = place[c]
            return w[a * D + A] - w[a * D + C] + w[c * D + C] - w[c * D + A] + 2 * Int(pairs[a * E + c])
        }
        func swap(_ a: Int, _ c: Int) {
            let A = place[a], C = place[c], delta = loads[a] - loads[c]
            deviceLoad[A] -= delta
            deviceLoad[C] += delta
            members[A][members[A].firstIndex(of: a)!] = c
            members[C][members[C].firstIndex(of: c)!] = a
            place[a] = C
            place[c] = A
            if let pairs = stats.pairs {
                for x in 0..<E {
                    let move = Int(pairs[x * E + a]) - Int(pairs[x * E + c])
                    w[x * D + A] -= move
                    w[x * D + C] += move
                }
            }
        }
        // Step 2. Each swap lowers the sum of squared device loads, so this ends; the caps bound
        // the work for tens of thousands of experts.
        var examined = 0
        for _ in 0..<(10 * E + 100) where examined < swapBudget {
            var b = 0
            for d in 1..<D where deviceLoad[d] > deviceLoad[b] { b = d }
            examined += members[b].count * E
            var best: (peak: Int, split: Int, a: Int, c: Int)?
            for a in members[b] {
                for c in 0..<E where place[c] != b && loads[c] < loads[a] {
                    let delta = loads[a] - loads[c]
                    let peak = max(deviceLoad[b] - delta, deviceLoad[place[c]] + delta)
                    guard peak < deviceLoad[b] else { continue }
                    if let current = best, (current.peak, current.split) <= (peak, splitChange(a, c)) { continue }
                    best = (peak, splitChange(a, c), a, c)
                }
            }
            guard let best else { break }
            swap(best.a, best.c)
        }
        // Step 3.
        guard stats.pairs != nil else { return place }
        let peak = deviceLoad.max() ?? 0
        for _ in 0..<20 {
            var changed = false
            for a in 0..<E {
                for c in (a + 1)..<E where place[a] != place[c] {
                    guard splitChange(a, c) < 0 else { continue }
                    let delta = loads[a] - loads[c]
                    guard deviceLoad[place[a]] - delta <= peak, deviceLoad[place[c]] + delta <= peak else { continue }
                    swap(a, c)
                    changed = true
                }
            }
            if !changed { break }
        }
        return place
    }
}

/// A min-heap of devices keyed by (load, device index), for LPT.
struct DeviceHeap {
    private var items: [(load: Int, device: Int)]

    init(devices: Int) { items = (0..<devices).map { (0, $0) } }

    func peek() -> Int { items[0].device }

    mutating func removeTop() {
        items.swapAt(0, items.count - 1)
        items.removeLast()
        siftDown(0)
    }

    /// Adds `load` to the top device's load and restores the order.
    mutating func addToTop(_ load: Int) {
        items[0].load += load
        siftDown(0)
    }

    private func less(_ i: Int, _ j: Int) -> Bool { (items[i].load, items[i].device) < (items[j].load, items[j].device) }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && less(l, m) { m = l }
            if r < items.count && less(r, m) { m = r }
            if m == i { return }
            items.swapAt(i, m)
            i = m
        }
    }
}
