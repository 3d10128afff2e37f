import SwitchyardTraces

/// A trace whose layers are given as expert lists per token (weights 1/k).
func costTrace(experts: Int, layers: [[[Int]]], groups: [Int]? = nil) -> RoutingTrace {
    RoutingTrace(expertCount: experts, tokenCount: layers[0].count, layers: layers.enumerated().map { i, tokens in
        var offsets: [Int32] = [0], list: [Int32] = [], weights: [Float] = []
        for token in tokens {
            for e in token {
                list.append(Int32(e))
                weights.append(1 / Float(token.count))
            }
            offsets.append(Int32(list.count))
        }
        return LayerRouting(layer: 2 * i + 1, offsets: offsets, experts: list, weights: weights)
    }, routingGroups: groups)
}

/// A random trace with a skewed (Zipf-like) choice of k distinct experts per token.
func skewedTrace(experts: Int, tokens: Int, k: Int, layers: Int, groups: [Int]?, seed: UInt64) -> RoutingTrace {
    var rng = CostLCG(state: seed)
    let weights = (0..<experts).map { (e: Int) -> Double in
        let a = Double(e % 7 + 1), b = Double((e * 13) % 5 + 1)
        return 1 / (a * b)
    }
    let total = weights.reduce(0, +)
    func draw() -> Int {
        var u = rng.uniform() * total
        for (e, w) in weights.enumerated() { u -= w; if u <= 0 { return e } }
        return experts - 1
    }
    let chosen = (0..<layers).map { _ in
        (0..<tokens).map { _ -> [Int] in
            var list: [Int] = []
            while list.count < min(k, experts) {
                let e = draw()
                if !list.contains(e) { list.append(e) }
            }
            return list
        }
    }
    return costTrace(experts: experts, layers: chosen, groups: groups)
}

/// A tiny deterministic generator, so the tests need no other module's.
struct CostLCG {
    var state: UInt64
    mutating func next(below n: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(n))
    }
    mutating func uniform() -> Double { Double(next(below: 1 << 30)) / Double(1 << 30) }
}
