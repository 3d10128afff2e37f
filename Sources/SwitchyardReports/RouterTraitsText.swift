/// A run's router traits (`summary.json`'s `routerTraits`, the trace metadata form) as report
/// text; oracle baselines, which read the labels, are marked in bold.
struct RouterTraitsText {
    let text: String
    /// True for a router that reads labels.
    let isOracle: Bool

    init?(metadata m: [String: String]) {
        guard let chooser = m["router.chooser"] else { return nil }
        if m["router.soft"] == "true" {
            isOracle = m["router.readsLabels"] == "true"
            text = "soft: every token reaches every expert through weighted slots; the routing statistics record each token's expert of largest combine mass"
            return
        }
        var parts = [chooser == "experts" ? "experts choose tokens" : "tokens choose experts"]
        if let k = m["router.k"] { parts.append("k = \(k.hasSuffix(".0") ? String(k.dropLast(2)) : k)") }
        if m["router.expertsPerTokenVary"] == "true" { parts.append("experts per token vary") }
        if m["router.fillsEveryExpert"] == "true" { parts.append("every expert filled to capacity") }
        isOracle = m["router.readsLabels"] == "true"
        if isOracle { parts.append("**oracle baseline: the router reads the labels**") }
        text = parts.joined(separator: "; ")
    }
}
