/// One named sequence of points: a line of a ``LineChart``, or one bar per category of a
/// ``BarChart`` (where `x` is ignored and `y[i]` belongs to category `i`).
///
/// Points whose coordinates are NaN or infinite are skipped when drawn; when `x` and `y`
/// differ in length, the extra values of the longer one are ignored.
public struct ChartSeries: Sendable, Equatable {
    /// The name shown in the legend and in tooltips.
    public var name: String
    /// The x coordinates (ignored by ``BarChart``).
    public var x: [Double]
    /// The y coordinates, or the bar heights of a ``BarChart``.
    public var y: [Double]

    /// A series named `name` with the points `(x[i], y[i])`.
    public init(name: String, x: [Double], y: [Double]) {
        self.name = name
        self.x = x
        self.y = y
    }
}
