/// What a router's decisions look like, declared by the router so that statistics, benchmarks,
/// reports and traces can treat routers by behaviour, never by name. Traces record them
/// (metadata keys `router.*`), and `switchyard routers` lists them.
public struct RouterTraits: Codable, Equatable, Sendable {
    /// Who chooses: tokens choose experts, or experts choose tokens.
    public enum Chooser: String, Codable, Sendable {
        /// Each token picks its experts (Switch, top-k, noisy top-k, random).
        case tokens
        /// Each expert picks its tokens (Expert Choice, BASE in training).
        case experts
    }

    /// Who chooses, and so what ``k`` counts.
    public var chooser: Chooser
    /// For `chooser == .tokens`: experts per token before any capacity drop (nil when it varies).
    /// For `.experts`: the mean number of experts per token the capacity gives (c in Expert Choice).
    public var k: Double?
    /// Every expert takes exactly its capacity by design (Expert Choice, BASE): the load
    /// statistics of such a router are fixed by capacity and get no sampling interval.
    public var fillsEveryExpert: Bool
    /// The number of experts per token varies by design (Expert Choice, top-p, ReMoE).
    public var expertsPerTokenVary: Bool
    /// The router reads the labels of its routing group (``RoutingContext/labels``): an oracle
    /// baseline, which reports mark; a learned router never declares it.
    public var readsLabels: Bool
    /// The router returns soft plans (``RoutingPlan/soft``, Soft MoE): every token reaches every
    /// expert through weighted slots. Statistics, step records and traces then record each token's
    /// expert of largest combine mass (``RoutingPlan/statisticsPlan``), so `chooser` and `k`
    /// describe that record (tokens, 1).
    public var soft: Bool

    /// Traits; the defaults describe a top-1 token-choice router.
    public init(chooser: Chooser = .tokens, k: Double? = 1, fillsEveryExpert: Bool = false,
                expertsPerTokenVary: Bool = false, readsLabels: Bool = false, soft: Bool = false) {
        self.chooser = chooser
        self.k = k
        self.fillsEveryExpert = fillsEveryExpert
        self.expertsPerTokenVary = expertsPerTokenVary
        self.readsLabels = readsLabels
        self.soft = soft
    }

    private enum CodingKeys: String, CodingKey { case chooser, k, fillsEveryExpert, expertsPerTokenVary, readsLabels, soft }

    /// Decodes traits; `soft` is false when absent (traits written before it existed).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(chooser: try c.decode(Chooser.self, forKey: .chooser), k: try c.decodeIfPresent(Double.self, forKey: .k),
                  fillsEveryExpert: try c.decode(Bool.self, forKey: .fillsEveryExpert),
                  expertsPerTokenVary: try c.decode(Bool.self, forKey: .expertsPerTokenVary),
                  readsLabels: try c.decode(Bool.self, forKey: .readsLabels),
                  soft: try c.decodeIfPresent(Bool.self, forKey: .soft) ?? false)
    }

    /// The traits as trace metadata (`router.chooser`, `router.k`, …), the form traces store.
    public var metadata: [String: String] {
        var m = ["router.chooser": chooser.rawValue,
                 "router.fillsEveryExpert": String(fillsEveryExpert),
                 "router.expertsPerTokenVary": String(expertsPerTokenVary),
                 "router.readsLabels": String(readsLabels)]
        if let k { m["router.k"] = String(k) }
        if soft { m["router.soft"] = "true" }   // only when set: other routers' metadata is unchanged
        return m
    }

    /// Traits read back from trace metadata, or nil when the trace records none (older traces,
    /// imports without them).
    public init?(metadata: [String: String]) {
        guard let c = metadata["router.chooser"].flatMap(Chooser.init(rawValue:)),
              let fills = metadata["router.fillsEveryExpert"].flatMap(Bool.init),
              let vary = metadata["router.expertsPerTokenVary"].flatMap(Bool.init) else { return nil }
        self.init(chooser: c, k: metadata["router.k"].flatMap(Double.init), fillsEveryExpert: fills,
                  expertsPerTokenVary: vary, readsLabels: metadata["router.readsLabels"].flatMap(Bool.init) ?? false,
                  soft: metadata["router.soft"].flatMap(Bool.init) ?? false)
    }

    /// One line for `switchyard routers`.
    public var summary: String {
        if soft { return "soft: every token reaches every expert through weighted slots; statistics record each token's largest-combine-mass expert (one per token)" }
        var parts = [chooser == .tokens ? "tokens choose experts" : "experts choose tokens"]
        if let k { parts.append(chooser == .tokens ? "k = \(k.formatted) per token" : "c = \(k.formatted) experts per token on average") }
        if expertsPerTokenVary { parts.append("experts per token vary") }
        if fillsEveryExpert { parts.append("every expert filled to capacity") }
        if readsLabels { parts.append("oracle: reads labels") }
        return parts.joined(separator: "; ")
    }
}

extension Double {
    /// 1 for 1.0, 1.25 for 1.25.
    fileprivate var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
