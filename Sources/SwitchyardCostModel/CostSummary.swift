import Foundation

/// Mean, percentiles and extremes of a list of values. Percentiles interpolate linearly
/// between order statistics (Hyndman & Fan 1996 type 7, NumPy's default).
public struct Distribution: Codable, Equatable, Sendable {
    /// The arithmetic mean.
    public var mean: Double
    /// The median, 90th and 99th percentiles.
    public var p50: Double
    public var p90: Double
    public var p99: Double
    /// The extremes.
    public var min: Double
    public var max: Double

    /// The distribution of `values`, nil when empty.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        func q(_ p: Double) -> Double {
            let h = p * Double(s.count - 1)
            let i = Int(h.rounded(.down))
            return i + 1 < s.count ? s[i] + (h - Double(i)) * (s[i + 1] - s[i]) : s[i]
        }
        mean = s.reduce(0, +) / Double(s.count)
        p50 = q(0.5)
        p90 = q(0.9)
        p99 = q(0.99)
        min = s[0]
        max = s[s.count - 1]
    }
}

/// A layer's (or all layers') cost over the routing groups.
public struct CostSummary: Codable, Equatable, Sendable {
    /// Routing groups (all-to-all steps).
    public var groups: Int
    /// Assignments routed, before capacity.
    public var assignments: Int
    /// Assignments over capacity (not dispatched).
    public var dropped: Int
    /// dropped / assignments.
    public var droppedFraction: Double
    /// Busiest device's rows / mean rows, over the groups (and layers) that processed any.
    public var stragglerFactor: Distribution?
    /// Estimated seconds per group (for all layers: summed over layers).
    public var stepSeconds: Distribution?
    /// The busiest device's expert compute per group.
    public var computeSeconds: Distribution?
    /// The all-to-all exchanges per group.
    public var exchangeSeconds: Distribution?
    /// Σ step seconds / Σ step seconds with perfectly spread compute and traffic.
    public var slowdownVersusIdeal: Double?
    /// Rows that crossed the network per exchange / rows processed.
    public var remoteFraction: Double?

    init(groups: Int, assignments: Int, dropped: Int, straggler: [Double], step: [Double], compute: [Double],
         exchange: [Double], ideal: Double, remote: Int, processed: Int) {
        self.groups = groups
        self.assignments = assignments
        self.dropped = dropped
        droppedFraction = assignments > 0 ? Double(dropped) / Double(assignments) : 0
        stragglerFactor = Distribution(straggler)
        stepSeconds = Distribution(step)
        computeSeconds = Distribution(compute)
        exchangeSeconds = Distribution(exchange)
        let total = step.reduce(0, +)
        slowdownVersusIdeal = ideal > 0 ? total / ideal : nil
        remoteFraction = processed > 0 ? Double(remote) / Double(processed) : nil
    }
}

extension CostSummary {
    /// A duration with three significant digits in ns, µs, ms or s; "n/a" for nil or non-finite.
    public static func formatSeconds(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite else { return "n/a" }
        if s == 0 { return "0 s" }
        for (scale, unit) in [(1.0, "s"), (1e-3, "ms"), (1e-6, "µs")] where s >= scale {
            return String(format: "%.3g %@", s / scale, unit)
        }
        return String(format: "%.3g ns", s / 1e-9)
    }
}
