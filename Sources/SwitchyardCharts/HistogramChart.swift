/// A histogram of counts already binned: one bar per bin, bars touching.
///
/// `counts[i]` is the height of bin `i`, labelled `binLabels[i]` (bins without a label are
/// unlabelled; labels without a count are ignored). Counts that are NaN or infinite leave
/// a gap. Thin bins show every n-th label so labels never overlap; every bar has a tooltip
/// with its label and count. No bins give a chart saying "no data"; all-zero counts give
/// an axis from 0 to 1 and flat bars.
public struct HistogramChart: Sendable {
    /// The chart title.
    public var title: String
    /// The label under each bin, such as its range ("0.2–0.4") or its value.
    public var binLabels: [String]
    /// The height of each bin.
    public var counts: [Double]
    /// The title of the bin axis.
    public var xLabel: String
    /// The title of the count axis.
    public var yLabel: String

    /// A histogram of `counts`, bin `i` labelled `binLabels[i]`.
    public init(title: String, binLabels: [String], counts: [Double], xLabel: String, yLabel: String) {
        self.title = title
        self.binLabels = binLabels
        self.counts = counts
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    /// The chart as a standalone 640 × 360 SVG document; equal charts give identical text.
    public func svg() -> String {
        let labels = counts.indices.map { $0 < binLabels.count ? binLabels[$0] : "" }
        return CategoricalPlot(title: title, categories: labels, series: [ChartSeries(name: "", x: [], y: counts)],
                               xLabel: xLabel, yLabel: yLabel, referenceLine: nil, referenceLabel: nil,
                               errorBars: nil, fill: 1).svg()
    }
}
