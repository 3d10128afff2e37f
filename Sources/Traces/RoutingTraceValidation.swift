import FileIO

extension RoutingTrace {
    /// Checks every invariant of a trace, throwing an ``InputError`` that names `file`, the
    /// layer, token or field, and the offending value.
    public func validate(file: String? = nil) throws {
        func fail(_ location: String, _ message: String) -> InputError {
            InputError(file: file, location: location, message: message)
        }
        let n = tokenCount
        guard expertCount >= 1 else { throw fail("expertCount", "\(expertCount); expected at least 1") }
        guard n >= 0 else { throw fail("tokenCount", "\(n); expected 0 or more") }
        if let labels {
            guard labels.count == n else { throw fail("labels", "\(labels.count) labels for \(n) tokens") }
            if let bad = labels.firstIndex(where: { $0 < -1 || (classCount > 0 && Int($0) >= classCount) }) {
                throw fail("labels[\(bad)]", "label \(labels[bad]) is outside −1…\(classCount - 1)")
            }
        }
        if let positions {
            guard positions.count == n else { throw fail("positions", "\(positions.count) positions for \(n) tokens") }
            if let bad = positions.firstIndex(where: { $0 < 0 }) { throw fail("positions[\(bad)]", "negative position \(positions[bad])") }
        }
        for (i, layer) in layers.enumerated() {
            let where_ = "layer \(i)"
            guard layer.offsets.count == n + 1 else {
                throw fail("\(where_) offsets", "\(layer.offsets.count) offsets; expected tokenCount + 1 = \(n + 1)")
            }
            guard layer.offsets.first == 0 else { throw fail("\(where_) offsets[0]", "\(layer.offsets[0]); expected 0") }
            for t in 0..<n where layer.offsets[t + 1] < layer.offsets[t] {
                throw fail("\(where_) token \(t)", "offsets decrease (\(layer.offsets[t]) then \(layer.offsets[t + 1]))")
            }
            guard Int(layer.offsets[n]) == layer.experts.count, layer.weights.count == layer.experts.count else {
                throw fail("\(where_)", "offsets end at \(layer.offsets[n]) but there are \(layer.experts.count) experts and \(layer.weights.count) weights")
            }
            if let bad = layer.experts.firstIndex(where: { $0 < 0 || Int($0) >= expertCount }) {
                throw fail("\(where_) assignment \(bad)", "expert \(layer.experts[bad]) is outside 0…\(expertCount - 1)")
            }
            if let bad = layer.weights.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw fail("\(where_) assignment \(bad)", "weight \(layer.weights[bad]); expected a finite number ≥ 0")
            }
            for (name, values) in [("top probability", layer.topProbability), ("router entropy", layer.routerEntropy)] {
                guard let values else { continue }
                guard values.count == n else { throw fail("\(where_) \(name)", "\(values.count) values for \(n) tokens") }
                if let bad = values.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                    throw fail("\(where_) \(name)[\(bad)]", "\(values[bad]); expected a finite number ≥ 0")
                }
            }
            if let p = layer.probabilities {
                guard p.count == n * expertCount else { throw fail("\(where_) probabilities", "\(p.count) values; expected \(n) × \(expertCount)") }
                if let bad = p.firstIndex(where: { !$0.isFinite || $0 < 0 || $0 > 1.0001 }) {
                    throw fail("\(where_) probabilities[\(bad)]", "\(p[bad]); expected a probability in [0, 1]")
                }
            }
            if let preferred = layer.preferredExpert {
                guard preferred.count == n else { throw fail("\(where_) preferred expert", "\(preferred.count) values for \(n) tokens") }
                if let bad = preferred.firstIndex(where: { $0 < -1 || Int($0) >= expertCount }) {
                    throw fail("\(where_) preferred expert[\(bad)]", "\(preferred[bad]) is outside −1…\(expertCount - 1)")
                }
            }
            if let capacity = layer.capacity, capacity < 0 { throw fail("\(where_) capacity", "\(capacity); expected 0 or more") }
        }
    }
}
