import Foundation

/// A value axis: how values map to the unit interval, and its ticks with their labels.
struct AxisScale {
    /// A tick: where it sits (0 at the low end of the axis, 1 at the high end) and its label.
    struct Tick {
        var fraction: Double
        var label: String
    }

    /// Linear, or base-10 logarithmic.
    enum Mapping {
        case linear
        case log10
    }

    /// How values map to positions.
    let mapping: Mapping
    /// The ends of the axis, in mapped units (values when linear, exponents when log).
    let lower: Double
    let upper: Double
    /// The ticks, from low to high.
    let ticks: [Tick]

    /// Where `value` sits on the axis (0 at `lower`, 1 at `upper`), or nil when it cannot be
    /// drawn: NaN, infinite, or not positive on a log axis.
    func fraction(of value: Double) -> Double? {
        guard value.isPlottable else { return nil }
        switch mapping {
        case .linear:
            return (value - lower) / (upper - lower)
        case .log10:
            guard value > 0 else { return nil }
            return (Foundation.log10(value) - lower) / (upper - lower)
        }
    }

    /// A linear axis covering the plottable `values` (and 0 when `includeZero`), its ends
    /// rounded outwards to a 1-2-5 step giving about `intervals` intervals. No values give
    /// 0...1; equal values a range around them.
    static func linear(covering values: [Double], includeZero: Bool = false, intervals: Int = 5) -> AxisScale {
        var finite = values.filter(\.isPlottable)
        if includeZero { finite.append(0) }
        var low = finite.min() ?? 0, high = finite.max() ?? 1
        if low == high {
            let unit = low == 0 ? 1 : pow(10, floor(Foundation.log10(Swift.abs(low))))
            low = low == 0 ? 0 : low - unit
            high += unit
        }
        let step = niceStep((high - low) / Double(max(1, intervals)))
        let first = floor(low / step + 1e-9), last = ceil(high / step - 1e-9)
        guard Swift.abs(first) < 1e15, Swift.abs(last) < 1e15, first < last else {
            let labels = TickLabels.linear([low, high], step: high - low)
            return AxisScale(mapping: .linear, lower: low, upper: high,
                             ticks: [Tick(fraction: 0, label: labels[0]), Tick(fraction: 1, label: labels[1])])
        }
        let values = (Int(first)...Int(last)).map { Double($0) * step }
        let labels = TickLabels.linear(values, step: step)
        let lower = values[0], upper = values[values.count - 1]
        let ticks = zip(values, labels).map { Tick(fraction: ($0 - lower) / (upper - lower), label: $1) }
        return AxisScale(mapping: .linear, lower: lower, upper: upper, ticks: ticks)
    }

    /// A log axis covering the positive plottable `values`, from a power of ten to a power of
    /// ten, with a tick at every decade (every few decades when they are more than 8), and at
    /// 2 and 5 times each decade too when the axis spans at most 3 decades.
    static func logarithmic(covering values: [Double]) -> AxisScale {
        let positive = values.filter { $0.isPlottable && $0 > 0 }
        var low = Int(floor(Foundation.log10(positive.min() ?? 1)))
        var high = Int(ceil(Foundation.log10(positive.max() ?? 10)))
        if low == high { low -= 1; high += 1 }
        let stride = max(1, (high - low + 7) / 8)
        high = low + stride * ((high - low + stride - 1) / stride)
        let span = Double(high - low)
        let multiples = high - low <= 3 ? [1, 2, 5] : [1]
        let ticks = Swift.stride(from: low, through: high, by: stride).flatMap { exponent in
            multiples.prefix(exponent == high ? 1 : multiples.count).map { multiple in
                Tick(fraction: (Double(exponent - low) + Foundation.log10(Double(multiple))) / span,
                     label: TickLabels.power(multiple, exponent))
            }
        }
        return AxisScale(mapping: .log10, lower: Double(low), upper: Double(high), ticks: ticks)
    }

    /// The 1, 2 or 5 times a power of ten nearest above-or-near `raw` (a positive step).
    static func niceStep(_ raw: Double) -> Double {
        guard raw.isFinite, raw > 0 else { return 1 }
        let magnitude = pow(10, floor(Foundation.log10(raw)))
        let fraction = raw / magnitude
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        return nice * magnitude
    }
}
