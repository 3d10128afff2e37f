import Foundation

/// `value` with exactly `decimals` digits after the point, never "-0".
func fixed(_ value: Double, decimals: Int) -> String {
    let text = String(format: "%.\(max(0, min(decimals, 12)))f", value)
    return text.hasPrefix("-") && text.allSatisfy({ "-0.".contains($0) }) ? String(text.dropFirst()) : text
}

/// `text` (a fixed-point number) without trailing zeros after the point, nor the point itself
/// when nothing follows it: "2.50" becomes "2.5", "3.00" becomes "3".
func trimmingZeros(_ text: String) -> String {
    guard text.contains(".") else { return text }
    var out = Substring(text)
    while out.hasSuffix("0") { out = out.dropLast() }
    if out.hasSuffix(".") { out = out.dropLast() }
    return String(out)
}

/// An SVG coordinate or length: at most two decimals, trailing zeros dropped ("12.5", "640").
/// Non-finite values (never produced by the charts) become "0" so the SVG stays valid.
func svgNumber(_ value: Double) -> String {
    value.isFinite ? trimmingZeros(fixed(value, decimals: 2)) : "0"
}

/// A data value in a tooltip or label: four significant digits ("0.1235", "1.235e+06").
func valueText(_ value: Double) -> String {
    value.isFinite ? String(format: "%.4g", value) : "\(value)"
}

/// The digits after the point that a multiple of `step` needs (0 for steps of 1 or more).
func decimals(forStep step: Double) -> Int {
    guard step.isFinite, step > 0 else { return 0 }
    return min(12, max(0, -Int(floor(log10(step) + 1e-9))))
}
