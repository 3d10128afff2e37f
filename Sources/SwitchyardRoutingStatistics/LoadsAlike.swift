/// Whether every resampling unit loads the experts in the same proportions: each unit's
/// per-(layer, expert) loads are its token count times one common share vector. Then no
/// resample changes the load shares, and CV, Gini, MaxVio and experts per token are exact
/// (routing by patch position, for example, loads every image alike). Compared exactly:
/// loads and token counts are integers held in doubles.
struct LoadsAlike {
    private var first: [Double] = []
    private var firstTokens = 0.0
    private(set) var alike = true
    private var units = 0

    /// Adds one unit's loads over the scope's (layer, expert) slots.
    mutating func add(_ loads: UnsafeBufferPointer<Double>, tokens: Double) {
        guard alike, tokens > 0 else { return }
        units += 1
        if first.isEmpty {
            first = Array(loads)
            firstTokens = tokens
            return
        }
        for j in 0..<loads.count where loads[j] * firstTokens != first[j] * tokens {
            alike = false
            return
        }
    }

    /// True when at least two units with tokens were added and all were alike.
    var result: Bool { alike && units > 1 }
}

extension RoutingGroupLoads {
    /// Whether every unit of routing groups loads `layer` alike (``LoadsAlike``).
    func loadsAlike(layer: Int) -> Bool {
        let slots = layerCount * expertCount, first = layer * expertCount
        var check = LoadsAlike()
        loads.withUnsafeBufferPointer { table in
            for u in 0..<unitCount {
                let row = UnsafeBufferPointer(rebasing: table[(u * slots + first)..<(u * slots + first + expertCount)])
                check.add(row, tokens: tokens[u])
                if !check.alike { return }
            }
        }
        return check.result
    }
}

extension ResamplingPlan {
    /// Whether every row (image, token or block) loads `layer` alike (``LoadsAlike``); false
    /// for the grouped form, whose columns are routing patterns.
    func loadsAlike(layer: Int, expertCount e: Int) -> Bool {
        guard columnsAreExperts else { return false }
        var check = LoadsAlike()
        var row = [Double](repeating: 0, count: e)
        let entries = layers[layer]
        for r in 0..<rowCount {
            for i in row.indices { row[i] = 0 }
            if let offsets = entries.offsets {
                for x in Int(offsets[r])..<Int(offsets[r + 1]) { row[Int(entries.pattern[x])] += entries.count?[x] ?? 1 }
            } else {
                row[Int(entries.pattern[r])] += 1
            }
            row.withUnsafeBufferPointer { check.add($0, tokens: rowTokens[r]) }
            if !check.alike { return false }
        }
        return check.result
    }
}
