import Foundation

/// Compact tick labels: "0", "0.5", "1.5k", "2M", "2e-5", and 1, 2, 5 times powers of ten
/// for log axes.
enum TickLabels {
    /// Labels of the linear ticks `values`, all multiples of `step`. Axes reaching 10 000 or
    /// more take a k/M/G/T suffix ("0.5M"), axes within ±0.001 scientific notation; trailing
    /// zeros are dropped.
    static func linear(_ values: [Double], step: Double) -> [String] {
        let largest = values.map { Swift.abs($0) }.max() ?? 0
        if largest >= 1e15 || (largest > 0 && largest < 1e-3) {
            return values.map { scientific($0, step: step) }
        }
        let suffixes: [(unit: Double, suffix: String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        let (unit, suffix) = largest < 1e4 ? (1, "") : suffixes.first(where: { largest >= $0.unit }) ?? (1, "")
        let digits = decimals(forStep: step / unit)
        return values.map { value in
            let text = trimmingZeros(fixed(value / unit, decimals: digits))
            return text == "0" ? "0" : text + suffix
        }
    }

    /// The label of `multiple` (a digit) times 10^`exponent`: plain from 0.001 to 5000, else
    /// "1e5", "2e-6".
    static func power(_ multiple: Int, _ exponent: Int) -> String {
        switch exponent {
        case 0...3: return "\(multiple)" + String(repeating: "0", count: exponent)
        case -3 ..< 0: return "0." + String(repeating: "0", count: -exponent - 1) + "\(multiple)"
        default: return "\(multiple)e\(exponent)"
        }
    }

    /// `value` as mantissa and exponent, with the mantissa digits `step` needs: "2.5e-5".
    private static func scientific(_ value: Double, step: Double) -> String {
        guard value != 0 else { return "0" }
        let exponent = Int(floor(log10(Swift.abs(value)) + 1e-9))
        let scale = pow(10, Double(exponent))
        let mantissa = trimmingZeros(fixed(value / scale, decimals: min(6, decimals(forStep: step / scale))))
        return "\(mantissa)e\(exponent)"
    }
}
