import SwitchyardTensorCore

/// Throws a ``RouterConfigurationError`` unless `ok`.
func requireRange(_ ok: Bool, _ router: String, _ field: String, _ value: Any, _ allowed: String) throws {
    try RouterOption.check(ok, router: router, field: field, value: value, allowed: allowed)
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
