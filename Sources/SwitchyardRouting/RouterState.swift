import SwitchyardTensorCore

/// A named Float32 array a router owns and keeps across steps without training it: the
/// per-expert bias of auxiliary-loss-free balancing, a hash table, a regulariser's λ.
///
/// State is saved in checkpoints and restored on `--resume` (so a resumed run continues bit for
/// bit), recorded in `summary.json`, listed by `switchyard routers`, and never seen by the
/// optimiser, parameter counts or FLOP counts. A router changes it only in
/// ``Router/afterStep(_:)`` (or at construction): evaluation never moves it.
public final class RouterState: @unchecked Sendable {
    /// The name inside the router, e.g. "bias"; checkpoints qualify it with the layer
    /// (`blocks.1.feedForward.router.state.bias`).
    public let name: String
    /// The values; their count is fixed at construction.
    public private(set) var values: [Float]

    /// State `name` with `values`.
    public init(name: String, values: [Float]) {
        self.name = name
        self.values = values
    }

    /// State `name` of `count` copies of `value`.
    public convenience init(name: String, count: Int, value: Float = 0) {
        self.init(name: name, values: [Float](repeating: value, count: count))
    }

    /// The number of values.
    public var count: Int { values.count }

    /// Element `i`.
    public subscript(i: Int) -> Float {
        get { values[i] }
        set { values[i] = newValue }
    }

    /// Replaces every value (from a checkpoint): the count must match and every value must be
    /// finite, else a ``RouterStateError`` naming the state and what is wrong; nothing changes
    /// on error.
    public func restore(_ newValues: [Float]) throws {
        guard newValues.count == values.count else {
            throw RouterStateError(state: name, message: "has \(newValues.count) values; the router needs \(values.count)")
        }
        if let i = newValues.firstIndex(where: { !$0.isFinite }) {
            throw RouterStateError(state: name, message: "value \(i) is \(newValues[i]); router state must be finite")
        }
        values = newValues
    }
}

/// A router state that cannot be restored.
public struct RouterStateError: Error, CustomStringConvertible, Sendable {
    /// The state's name.
    public var state: String
    /// What is wrong.
    public var message: String

    /// "router state bias has 3 values; the router needs 4".
    public var description: String { "router state \(state) \(message)" }
}

/// The scalars a router state contributes to each logged step (`metrics.jsonl`'s
/// `routerScalars`): the value of a one-element state, or the minimum and maximum of a larger
/// one (`bias.min`, `bias.max`).
public enum RouterStateSummary {
    /// The logged scalars of `state`.
    public static func scalars(_ state: RouterState) -> [(name: String, value: Float)] {
        guard let low = state.values.min(), let high = state.values.max() else { return [] }
        return state.count == 1 ? [(state.name, low)] : [("\(state.name).min", low), ("\(state.name).max", high)]
    }
}
