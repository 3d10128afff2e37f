import Foundation

/// Setting fields of a `Codable` configuration from `key=value` text, as the command line's
/// `--set model.width=128` and `--router-option capacityFactor=1.0` do.
///
/// The configuration is encoded to JSON, each dotted path is replaced (the path must already
/// exist, so typos are caught), and the result is decoded again, so every field keeps its
/// declared type: `true`/`false` for booleans, numbers for numbers, text for strings and
/// string enums.
///
/// An optional field that is absent (nil encodes as no key) may be set too: its last key is
/// added with the text read as a boolean or number when it reads as one (as text when the field
/// then does not decode), and after decoding the field must appear in the re-encoded value —
/// a key the type does not have is still an unknown option.
public enum JSONOverrides {
    /// `value` with every `path → text` of `overrides` applied. `what` names the thing being
    /// configured in error messages ("router switch", "configuration").
    public static func apply<T: Codable>(_ overrides: [(path: String, text: String)], to value: T,
                                         what: String) throws -> T {
        if overrides.isEmpty { return value }
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any] else {
            throw InputError(location: what, message: "cannot be configured field by field")
        }
        let original = object
        var added: [Added] = []
        for (path, text) in overrides {
            let keys = path.split(separator: ".").map(String.init)
            guard !keys.isEmpty else { throw InputError(location: what, message: "empty option name in '\(path)=\(text)'") }
            object = try set(keys[...], to: text, in: object, fullPath: path, what: what, added: &added)
        }
        let result: T
        do {
            result = try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: object))
        } catch {
            // An added optional field read as a boolean or number may be text ("1" for a name).
            var retried = object
            for a in added where !(a.guess is String) { retried = replaced(a.keys[...], with: a.text, in: retried) }
            guard !added.isEmpty, let decoded = try? JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: retried)) else {
                let given = overrides.map { "\($0.path)=\($0.text)" }.joined(separator: ", ")
                throw InputError(location: what, message: "\(given): a value does not have the field's type (\(decodingReason(error)))")
            }
            result = decoded
        }
        if !added.isEmpty {
            let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any] ?? [:]
            for a in added where lookup(a.keys[...], in: encoded) == nil {
                let known = (lookup(a.keys.dropLast(), in: original) as? [String: Any])?.keys.sorted().joined(separator: ", ") ?? ""
                throw InputError(location: what, message: "unknown option '\(a.path)'; known here: \(known)")
            }
        }
        return result
    }

    /// A key `set` added for an absent optional field.
    private struct Added {
        var path: String
        var keys: [String]
        var text: String
        var guess: Any
    }

    private static func lookup(_ keys: ArraySlice<String>, in object: [String: Any]) -> Any? {
        guard let key = keys.first else { return object }
        guard let next = object[key] else { return nil }
        if keys.count == 1 { return next }
        return (next as? [String: Any]).flatMap { lookup(keys.dropFirst(), in: $0) }
    }

    private static func replaced(_ keys: ArraySlice<String>, with text: String, in object: [String: Any]) -> [String: Any] {
        var object = object
        let key = keys.first!
        if keys.count == 1 {
            object[key] = text
        } else if let nested = object[key] as? [String: Any] {
            object[key] = replaced(keys.dropFirst(), with: text, in: nested)
        }
        return object
    }

    /// Splits `key=value` arguments; throws for an argument without `=`.
    public static func parse(_ arguments: [String], option: String) throws -> [(path: String, text: String)] {
        try arguments.map { argument in
            guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else {
                throw InputError(location: option, message: "'\(argument)' is not of the form NAME=VALUE")
            }
            return (String(argument[..<eq]), String(argument[argument.index(after: eq)...]))
        }
    }

    /// Every leaf of `value`'s JSON encoding as (dotted path, JSON text), sorted by path.
    public static func fields<T: Encodable>(of value: T) -> [(key: String, value: String)] {
        guard let data = try? JSONEncoder().encode(value),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        var result: [(key: String, value: String)] = []
        func walk(_ object: [String: Any], prefix: String) {
            for key in object.keys.sorted() {
                let path = prefix.isEmpty ? key : "\(prefix).\(key)"
                if let nested = object[key] as? [String: Any] {
                    walk(nested, prefix: path)
                } else {
                    result.append((path, jsonText(object[key]!)))
                }
            }
        }
        walk(object, prefix: "")
        return result
    }

    private static let booleanType = type(of: NSNumber(value: true))

    private static func set(_ keys: ArraySlice<String>, to text: String, in object: [String: Any],
                            fullPath: String, what: String, added: inout [Added]) throws -> [String: Any] {
        var object = object
        let key = keys.first!
        guard let current = object[key] else {
            if keys.count == 1 {
                // Perhaps an absent optional field: checked after decoding.
                var guess: Any = text
                if text.lowercased() == "true" || text.lowercased() == "false" {
                    guess = text.lowercased() == "true"
                } else if let number = Double(text), number.isFinite {
                    guess = number == number.rounded() && abs(number) < 1e15 ? Int(number) as Any : number as Any
                }
                object[key] = guess
                added.append(Added(path: fullPath, keys: fullPath.split(separator: ".").map(String.init), text: text, guess: guess))
                return object
            }
            let known = object.keys.sorted().joined(separator: ", ")
            throw InputError(location: what, message: "unknown option '\(fullPath)'; known here: \(known)")
        }
        if keys.count > 1 {
            guard let nested = current as? [String: Any] else {
                throw InputError(location: what, message: "'\(fullPath)': '\(key)' has no fields")
            }
            object[key] = try set(keys.dropFirst(), to: text, in: nested, fullPath: fullPath, what: what, added: &added)
            return object
        }
        if current is [String: Any] || current is [Any] {
            throw InputError(location: what, message: "'\(fullPath)' is a group of fields; set one of them")
        }
        if type(of: current) == booleanType {
            switch text.lowercased() {
            case "true", "yes", "on", "1": object[key] = true
            case "false", "no", "off", "0": object[key] = false
            default: throw InputError(location: what, message: "\(fullPath) = \(text): expected true or false")
            }
        } else if current is NSNumber {
            guard let number = Double(text), number.isFinite else {
                throw InputError(location: what, message: "\(fullPath) = \(text): expected a finite number")
            }
            if number == number.rounded(), abs(number) < 1e15 { object[key] = Int(number) } else { object[key] = number }
        } else {
            object[key] = text
        }
        return object
    }

    private static func jsonText(_ value: Any) -> String {
        if let data = try? JSONSerialization.data(withJSONObject: [value]),
           let text = String(data: data, encoding: .utf8) {
            return String(text.dropFirst().dropLast())
        }
        return "\(value)"
    }

    private static func decodingReason(_ error: Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(let type, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")) must be \(type)"
        case .dataCorrupted(let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
