/// Balanced assignment of tokens to experts by an auction (Bertsekas 1979; the transportation
/// form of Bertsekas and Castañon 1989), as BASE layers use it (Lewis et al. 2021, arXiv
/// 2103.16716, fairseq `clib/libbase/balanced_assignment.cpp`): every expert takes exactly
/// ⌊m/E⌋ or ⌈m/E⌉ of a group's m tokens, and Σ_t a_{t,e(t)} is maximal to within m·ε.
///
/// When E does not divide m, each expert has ⌊m/E⌋ ordinary places and one extra place, and
/// E − (m mod E) placeholder tokens that may only take extra places (value 0 there) fill the
/// extras nobody needs: so no token is lost and no expert takes more than one extra (fairseq
/// divides m by E and loses the remainder). Tokens bid for places in turn (Gauss–Seidel): a
/// token bids for the expert of highest value minus price, raising that expert's price by the
/// gap to its second-best option plus ε; a full expert's price is its lowest accepted bid, whose
/// token is evicted and bids again. ε = `epsilonFraction` × (max − min affinity), at least
/// 1e-4 (fairseq's (max − min)/50). Ties go to the lower expert and tokens bid in index order,
/// so the result depends only on the affinities.
public struct BalancedAssignment: Sendable {
    /// ε as a fraction of the affinities' range.
    public var epsilonFraction: Double
    /// Bids of the last ``assign(_:tokens:experts:into:)``, for cost reporting.
    public private(set) var bids = 0

    private var price: [Double] = []
    private var heaps: [[(bid: Double, job: Int32)]] = []
    private var queue: [Int32] = []

    /// An assigner with ε = `epsilonFraction`·range.
    public init(epsilonFraction: Double = 0.02) {
        self.epsilonFraction = epsilonFraction
    }

    /// The expert of each of `m` tokens whose affinities are the rows of `a` (m × E, row
    /// stride E), written to `expertOf`. Throws when an affinity is not finite.
    public mutating func assign(_ a: UnsafePointer<Float>, tokens m: Int, experts e: Int,
                                into expertOf: UnsafeMutablePointer<Int32>) throws {
        bids = 0
        guard m > 0 else { return }
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<(m * e) {
            guard a[i].isFinite else {
                throw BalancedAssignmentError(message: "affinity of token \(i / e) for expert \(i % e) is \(a[i])")
            }
            lo = min(lo, a[i])
            hi = max(hi, a[i])
        }
        let epsilon = max(Double(hi - lo) * epsilonFraction, 1e-4)
        let q = m / e, extra = m % e
        // Objects: expert o's ordinary places (o < E, capacity q), its extra place (E + o, capacity 1).
        let objects = extra > 0 ? 2 * e : e
        let capacity = { (o: Int) -> Int in o < e ? q : 1 }
        let placeholders = extra > 0 ? e - extra : 0
        let jobs = m + placeholders
        price = [Double](repeating: 0, count: objects)
        if heaps.count < objects { heaps = [[(bid: Double, job: Int32)]](repeating: [], count: objects) }
        for o in 0..<objects { heaps[o].removeAll(keepingCapacity: true) }
        queue.removeAll(keepingCapacity: true)
        queue.append(contentsOf: (0..<Int32(jobs)))
        var head = 0
        let bidLimit = 100_000 * jobs
        while head < queue.count {
            let j = Int(queue[head])
            head += 1
            var best = -1, bestNet = -Double.infinity, secondNet = -Double.infinity
            for o in 0..<objects where capacity(o) > 0 {
                let value: Double
                if j < m { value = Double(a[j * e + (o < e ? o : o - e)]) } else if o >= e { value = 0 } else { continue }
                let net = value - price[o]
                if net > bestNet {
                    secondNet = bestNet
                    bestNet = net
                    best = o
                } else if net > secondNet {
                    secondNet = net
                }
            }
            let gap = secondNet.isFinite ? bestNet - secondNet : 0
            let bid = price[best] + gap + epsilon
            Self.push(&heaps[best], (bid, Int32(j)))
            if heaps[best].count > capacity(best) {
                queue.append(Self.popMin(&heaps[best]).job)
            }
            if heaps[best].count == capacity(best) { price[best] = heaps[best][0].bid }
            bids += 1
            if bids > bidLimit {
                throw BalancedAssignmentError(message: "the auction made \(bids) bids for \(jobs) tokens without settling")
            }
            // Compact the queue now and then so that it does not grow without bound.
            if head > 4096 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
        }
        for o in 0..<objects {
            for entry in heaps[o] where Int(entry.job) < m { expertOf[Int(entry.job)] = Int32(o < e ? o : o - e) }
        }
    }

    private static func push(_ heap: inout [(bid: Double, job: Int32)], _ item: (bid: Double, job: Int32)) {
        heap.append(item)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private static func popMin(_ heap: inout [(bid: Double, job: Int32)]) -> (bid: Double, job: Int32) {
        let top = heap[0]
        let last = heap.removeLast()
        guard !heap.isEmpty else { return top }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count, less(heap[l], heap[m]) { m = l }
            if r < heap.count, less(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }

    /// Lower bid first; on equal bids the later token (higher index) is evicted first.
    private static func less(_ x: (bid: Double, job: Int32), _ y: (bid: Double, job: Int32)) -> Bool {
        x.bid < y.bid || (x.bid == y.bid && x.job > y.job)
    }
}

/// An assignment the auction cannot make.
public struct BalancedAssignmentError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var message: String
    /// The message.
    public var description: String { "balanced assignment: \(message)" }
}
