import SwitchyardTensorCore

/// Throws a ``RouterConfigurationError`` unless `ok`.
func requireRange(_ ok: Bool, _ router: String, _ field: String, _ value: Any, _ allowed: String) throws {
    if !ok { throw RouterConfigurationError(router: router, field: field, value: "\(value)", allowed: allowed) }
}

/// A router-owned n × E probability tensor, grown to the largest n seen and handed to plans.
final class PlanProbabilities {
    let experts: Int
    private(set) var tensor: Tensor

    init(experts: Int) {
        self.experts = experts
        tensor = Tensor(shape: [0, experts])
    }

    /// Makes room for n tokens. The plan's tensor must have exactly n rows for consumers, so a
    /// new tensor is made whenever n changes.
    func reserve(_ n: Int) -> UnsafeMutablePointer<Float> {
        if tensor.shape[0] != n { tensor = Tensor(shape: [n, experts]) }
        return tensor.pointer
    }

    var pointer: UnsafeMutablePointer<Float> { tensor.pointer }
}

/// Per-expert token lists, reused across calls, emitted into a plan expert by expert with the
/// tokens of each expert in increasing order (good locality for the gather).
struct ExpertLists {
    private var lists: [[Int32]]

    init(experts: Int) { lists = Array(repeating: [], count: experts) }

    mutating func clear() {
        for e in lists.indices { lists[e].removeAll(keepingCapacity: true) }
    }

    func count(_ expert: Int) -> Int { lists[expert].count }

    mutating func add(token: Int, to expert: Int) { lists[expert].append(Int32(token)) }

    /// Appends every list to `plan` (sorted by token) with weight `weight(token, expert)`, then
    /// finishes the plan.
    mutating func emit(into plan: RoutingPlan, weight: (Int, Int) -> Float) {
        for e in lists.indices {
            lists[e].sort()
            for t in lists[e] { plan.append(expert: e, token: Int(t), weight: weight(Int(t), e)) }
        }
        plan.finish()
    }
}
