import Foundation
import SwitchyardRoutingStatistics

/// How reports write numbers: fixed digits so that the same inputs give the same text.
enum ReportFormat {
    /// `x` with `digits` decimals, or "n/a".
    static func number(_ x: Double?, _ digits: Int = 3) -> String {
        guard let x, x.isFinite else { return "n/a" }
        return String(format: "%.\(digits)f", x)
    }

    /// `x` as a percentage with `digits` decimals, or "n/a".
    static func percent(_ x: Double?, _ digits: Int = 2) -> String {
        guard let x, x.isFinite else { return "n/a" }
        return String(format: "%.\(digits)f%%", x * 100)
    }

    /// A p-value: three significant digits, "< 1e-300" at the floor of double precision.
    static func p(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "n/a" }
        if x < 1e-300 { return "< 1e-300" }
        if x < 0.001 { return String(format: "%.1e", x) }
        return String(format: "%.3f", x)
    }

    /// "bootstrap intervals at 95% (…) over 200 resamples": how an analysis's intervals were
    /// formed, for a report's opening.
    static func bootstrapIntervals(_ r: ResamplingSummary) -> String {
        "bootstrap intervals at \(percent(r.confidenceLevel, 0)) (basic, moment-selection or shrunk-world, "
            + "by statistic: docs/statistics.md) over \(r.bootstrapResamples) resamples"
    }

    /// A p-value after "p": "= 0.012", "= 3.1e-05" or "< 1e-300".
    static func pClause(_ x: Double?) -> String {
        let text = p(x)
        return text.hasPrefix("<") ? text : "= " + text
    }

    /// "0.112 [0.101, 0.124]": an estimate with its bootstrap interval when there is one;
    /// "0.000 (fixed by capacity)" for a statistic the router's design fixes
    /// (``BootstrapInterval/fixedBy``).
    static func withInterval(_ x: Double?, _ interval: BootstrapInterval?, _ digits: Int = 3) -> String {
        guard let interval else { return number(x, digits) }
        if let label = interval.fixedLabel ?? interval.withheldLabel { return "\(number(x, digits)) \(label)" }
        if interval.noDetectableEffect == true {
            return "\(number(x, digits)) [0, \(number(interval.upper, digits))] (no detectable affinity)"
        }
        let warning = interval.warning == nil ? "" : " (interval excludes the estimate)"
        let open = interval.lowerOpen == true ? "(" : "["
        return "\(number(x, digits)) \(open)\(number(interval.lower, digits)), \(number(interval.upper, digits))]\(warning)"
    }

    /// A mean with its interval across runs, "86.21% [85.90, 86.52]" style when a percentage.
    static func mean(_ m: (mean: Double, lower: Double, upper: Double)?, single: Double?, percent asPercent: Bool,
                     digits: Int = 3) -> String {
        let f: (Double?) -> String = asPercent ? { percent($0, 2) } : { number($0, digits) }
        if let m { return "\(f(m.mean)) [\(f(m.lower)), \(f(m.upper))]" }
        return f(single)
    }

    /// "12m 30s" / "45.2s".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "n/a" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h \(s % 3600 / 60)m" : "\(s / 60)m \(s % 60)s"
    }

    /// An integer with thousands separators: 1,234,567.
    static func count(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return n < 0 ? "-" + out : out
    }

    /// A list in prose: "a", "a and b", "a, b and c".
    static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        default: return items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }

    /// Up to `count` evenly spaced indices of `0..<n`, always including the first and last.
    static func sampleIndices(_ n: Int, count: Int) -> [Int] {
        guard n > count else { return Array(0..<n) }
        return (0..<count).map { Int((Double($0) * Double(n - 1) / Double(count - 1)).rounded()) }
    }
}
