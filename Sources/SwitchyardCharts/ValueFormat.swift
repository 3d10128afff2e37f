import Foundation

/// printf-style formats for one `Double`, checked before use so that a bad format (say
/// "%s", or two conversions) cannot crash `String(format:)`.
enum ValueFormat {
    /// Text around exactly one floating-point conversion (flags, width and precision of at
    /// most three digits, an optional `l`), with `%%` allowed in the text.
    private static let pattern = try! NSRegularExpression(
        pattern: "^(?:[^%]|%%)*%[-+ 0#]*[0-9]{0,3}(?:\\.[0-9]{0,3})?l?[fFeEgG](?:[^%]|%%)*$")

    /// `format` when it is a valid format for one `Double`, else `fallback`.
    static func checked(_ format: String, fallback: String = "%.2f") -> String {
        let range = NSRange(format.startIndex..., in: format)
        return pattern.firstMatch(in: format, range: range) != nil ? format : fallback
    }

    /// `value` formatted with the checked `format`.
    static func format(_ value: Double, _ format: String) -> String {
        String(format: checked(format), value)
    }
}
