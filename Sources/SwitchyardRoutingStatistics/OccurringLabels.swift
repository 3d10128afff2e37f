import SwitchyardTraces

/// Token ids as labels range over a vocabulary (151,936 ids for Qwen) of which a trace shows a
/// part, and every class table would carry a row per id. When the labels leave classes unused
/// and a class × (layer, expert) table over their whole range would exceed `cellLimit` cells,
/// the analysis renumbers the labels that occur densely, in ascending order (so "lowest class
/// on ties" keeps its meaning): empty rows change no statistic. ``ids`` gives each dense
/// class's label (`class_ids` in the JSON); class names are kept for the classes that occur,
/// else the ids are the names.
struct OccurringLabels {
    /// The label of each class of ``trace``, ascending.
    let ids: [Int32]
    /// The trace with labels `0..<ids.count`.
    let trace: RoutingTrace

    /// Nil when the trace keeps its labels: none, every class in range occurs, the table is
    /// within `cellLimit`, or a label is out of range (``checkTrace(_:source:)`` reports it).
    init?(_ trace: RoutingTrace, cellLimit: Int) {
        guard let labels = trace.labels, !labels.isEmpty, !trace.layers.isEmpty else { return nil }
        let declared = trace.classCount
        var largest: Int32 = -1
        for label in labels {
            guard label >= 0, declared == 0 || Int(label) < declared else { return nil }
            largest = max(largest, label)
        }
        let range = declared > 0 ? declared : Int(largest) + 1
        guard trace.classNames.isEmpty || trace.classNames.count == range else { return nil }
        guard range.multipliedReportingOverflow(by: trace.layers.count * trace.expertCount).overflow
                || range * trace.layers.count * trace.expertCount > cellLimit else { return nil }
        var presence = Presence(range: range)
        presence.add(labels)
        let ids = presence.ids
        guard ids.count < range else { return nil }
        let index = Self.denseIndex(ids: ids, range: range)
        let dense = labels.map(index)
        var renumbered = trace
        renumbered.labels = dense
        renumbered.classCount = ids.count
        renumbered.classNames = trace.classNames.isEmpty ? ids.map { String($0) } : ids.map { trace.classNames[Int($0)] }
        self.ids = ids
        self.trace = renumbered
    }

    /// Which labels of `0..<range` occur, added a chunk of labels at a time: a flag per label up
    /// to 2²⁶ labels, else a set of those seen.
    struct Presence {
        let range: Int
        private var seen: [Bool]
        private var set = Set<Int32>()

        init(range: Int) {
            self.range = range
            seen = range <= 1 << 26 ? [Bool](repeating: false, count: range) : []
        }

        mutating func add(_ labels: [Int32]) {
            if seen.isEmpty { set.formUnion(labels) } else { for label in labels { seen[Int(label)] = true } }
        }

        /// The labels seen, ascending.
        var ids: [Int32] { seen.isEmpty ? set.sorted() : (0..<range).filter { seen[$0] }.map(Int32.init) }
    }

    /// Each occurring label's dense class (its index in `ids`): a lookup table up to 2²⁴ labels,
    /// else a binary search.
    static func denseIndex(ids: [Int32], range: Int) -> (Int32) -> Int32 {
        if range <= 1 << 24 {
            var index = [Int32](repeating: -1, count: range)
            for (i, id) in ids.enumerated() { index[Int(id)] = Int32(i) }
            return { index[Int($0)] }
        }
        return { label in
            var low = 0, high = ids.count
            while low < high {
                let mid = (low + high) / 2
                if ids[mid] < label { low = mid + 1 } else { high = mid }
            }
            return Int32(low)
        }
    }
}
