extension Double {
    /// Whether a value can be drawn: finite and at most 1e300 in magnitude, so that
    /// differences of two plottable values are finite too. NaN and ±∞ are skipped.
    var isPlottable: Bool { isFinite && Swift.abs(self) <= 1e300 }
}
