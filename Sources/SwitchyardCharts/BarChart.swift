/// A grouped bar chart: one group of bars per category, one bar per series in each group,
/// in the Okabe–Ito colours, with a legend when there are several series.
///
/// Bars grow from zero (the value axis always includes 0). A value that is NaN, infinite
/// or missing (a series shorter than `categories`) leaves a gap. Long category labels are
/// turned 45° and cut, with the full label as a tooltip; every bar has a tooltip with its
/// category, series and value. No categories, no series or no drawable value give a chart
/// saying "no data".
public struct BarChart: Sendable {
    /// The chart title.
    public var title: String
    /// The category names, left to right.
    public var categories: [String]
    /// The series; `y[i]` is the bar in category `i`, `x` is ignored.
    public var series: [ChartSeries]
    /// The title of the value axis.
    public var yLabel: String
    /// The title of the category axis (none by default).
    public var xLabel: String = ""
    /// A value drawn as a dashed horizontal line across the plot, such as the load every
    /// expert would get under uniform routing; nil for none.
    public var referenceLine: Double?
    /// The name of ``referenceLine`` in the legend and its tooltip; nil leaves it out of the
    /// legend.
    public var referenceLabel: String?
    /// Error bars, per series and per category (`errorBars[s][c]` spans the interval of
    /// bar `c` of series `s`); nil entries, and intervals with a NaN or infinite end, are
    /// not drawn.
    public var errorBars: [[ClosedRange<Double>?]]?

    /// A bar chart of `series` over `categories`, without reference line or error bars.
    public init(title: String, categories: [String], series: [ChartSeries], yLabel: String) {
        self.title = title
        self.categories = categories
        self.series = series
        self.yLabel = yLabel
    }

    /// The chart as a standalone 640 × 360 SVG document; equal charts give identical text.
    public func svg() -> String {
        CategoricalPlot(title: title, categories: categories, series: series, xLabel: xLabel, yLabel: yLabel,
                        referenceLine: referenceLine, referenceLabel: referenceLabel, errorBars: errorBars,
                        fill: 0.8).svg()
    }
}
