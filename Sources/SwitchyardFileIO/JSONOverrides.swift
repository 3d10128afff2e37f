import Foundation

/// Setting fields of a `Codable` configuration from `key=value` text, as the command line's
/// `--set model.width=128` and `--router-option capacityFactor=1.0` do.
///
/// The configuration is encoded to JSON, each dotted path is replaced, and the result is decoded
/// again, so every field keeps its declared type: `true`/`false` for booleans, numbers for
/// numbers, text for strings and string enums. A path must exist in the encoding — or, for an
/// optional field that is absent (encoded as nothing), be present once the result is decoded and
/// encoded again — so typos are caught.
public enum JSONOverrides {
    /// `value` with every `path → text` of `overrides` applied. `what` names the thing being
    /// configured in error messages ("router switch", "configuration").
    public static func apply<T: Codable>(_ overrides: [(path: String, text: String)], to value: T,
                                         what: String) throws -> T {
        if overrides.isEmpty { return value }
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any] else {
            throw InputError(location: what, message: "cannot be configured field by field")
        }
        for (path, text) in overrides {
            let keys = path.split(separator: ".").map(String.init)
            guard !keys.isEmpty else { throw InputError(location: what, message: "empty option name in '\(path)=\(text)'") }
            object = try set(keys[...], to: text, in: object, fullPath: path, what: what)
        }
        let data = try JSONSerialization.data(withJSONObject: object)
        let decoded: T
        do {
            decoded = try JSONDecoder().decode(T.self, from: data)
        } catch {
            let given = overrides.map { "\($0.path)=\($0.text)" }.joined(separator: ", ")
            throw InputError(location: what, message: "\(given): a value does not have the field's type (\(decodingReason(error)))")
        }
        // A key the encoding did not have is an absent optional field only if it survives decoding.
        let present = Set(fields(of: decoded).map(\.key))
        for (path, _) in overrides where !present.contains(path) {
            let parent = path.split(separator: ".").dropLast().joined(separator: ".")
            let known = Set(present.compactMap { key -> String? in
                guard parent.isEmpty || key.hasPrefix(parent + ".") else { return nil }
                return key.dropFirst(parent.isEmpty ? 0 : parent.count + 1).split(separator: ".").first.map(String.init)
            }).sorted().joined(separator: ", ")
            throw InputError(location: what, message: "unknown option '\(path)'; known here: \(known)")
        }
        return decoded
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
                            fullPath: String, what: String) throws -> [String: Any] {
        var object = object
        let key = keys.first!
        guard let current = object[key] else {
            guard keys.count == 1 else {
                let known = object.keys.sorted().joined(separator: ", ")
                throw InputError(location: what, message: "unknown option '\(fullPath)'; known here: \(known)")
            }
            // Perhaps an absent optional field: typed by its text, checked after decoding.
            switch text.lowercased() {
            case "true", "false": object[key] = text.lowercased() == "true"
            default:
                if let number = Double(text), number.isFinite {
                    object[key] = number == number.rounded() && abs(number) < 1e15 ? Int(number) as Any : number as Any
                } else {
                    object[key] = text
                }
            }
            return object
        }
        if keys.count > 1 {
            guard let nested = current as? [String: Any] else {
                throw InputError(location: what, message: "'\(fullPath)': '\(key)' has no fields")
            }
            object[key] = try set(keys.dropFirst(), to: text, in: nested, fullPath: fullPath, what: what)
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
