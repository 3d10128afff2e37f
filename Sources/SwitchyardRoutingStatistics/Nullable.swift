/// A statistic that may be undefined for the data at hand, stored as an optional and
/// encoded so that JSON never breaks: `nil`, NaN and ±∞ are all written as JSON `null`
/// (JSON has no NaN), and `null` decodes back to `nil`.
///
/// Setting a non-finite `Double` stores `nil`, so a value read back is always finite.
/// A p-value with zero degrees of freedom, a ratio with a zero denominator, or a table
/// that a trace without labels cannot have are all `nil`.
///
/// ```swift
/// struct Result: Codable { @Nullable var p: Double? }
/// // Result(p: .nan) encodes as {"p":null}
/// ```
@propertyWrapper
public struct Nullable<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    private var storage: Value?

    /// The value, or nil when undefined.
    public var wrappedValue: Value? {
        get { storage }
        set { storage = Nullable.sanitized(newValue) }
    }

    /// Wraps `wrappedValue`; a non-finite `Double` becomes nil.
    public init(wrappedValue: Value?) {
        storage = Nullable.sanitized(wrappedValue)
    }

    private static func sanitized(_ value: Value?) -> Value? {
        guard let value else { return nil }
        if let number = value as? Double, !number.isFinite { return nil }
        return value
    }

    /// Decodes a value, or nil from JSON `null`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        storage = container.decodeNil() ? nil : Nullable.sanitized(try container.decode(Value.self))
    }

    /// Encodes the value, or JSON `null` when it is nil.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let storage { try container.encode(storage) } else { try container.encodeNil() }
    }
}

/// A finite `Double` or nil: the form every computed statistic takes before it is stored.
@inline(__always)
func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
