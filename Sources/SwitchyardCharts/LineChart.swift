/// A line chart of one or more series against a numeric x axis, in the Okabe–Ito colours
/// (dashed once the eight colours repeat), with a legend when there are several series.
///
/// Points with a NaN or infinite coordinate, or a y ≤ 0 on a log axis, are skipped and
/// break the line; a point alone between gaps is drawn as a dot, and series of at most 40
/// points show a dot at every point. No drawable point gives a chart saying "no data".
public struct LineChart: Sendable {
    /// The chart title.
    public var title: String
    /// The title of the x axis.
    public var xLabel: String
    /// The title of the y axis.
    public var yLabel: String
    /// The series, drawn in order (later series on top).
    public var series: [ChartSeries]
    /// Whether the y axis is logarithmic (base 10, ticks at powers of ten).
    public var logY: Bool = false

    /// A line chart of `series` with a linear y axis.
    public init(title: String, xLabel: String, yLabel: String, series: [ChartSeries]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    /// The chart as a standalone 640 × 360 SVG document; equal charts give identical text.
    public func svg() -> String {
        let points = series.map { s in
            zip(s.x, s.y).map { x, y in x.isPlottable && y.isPlottable && (!logY || y > 0) ? (x, y) : nil }
        }
        let drawable = points.flatMap { $0.compactMap { $0 } }
        guard !drawable.isEmpty else { return ChartChrome.noData(title: title) }
        let xScale = AxisScale.linear(covering: drawable.map(\.0))
        let yScale = logY ? AxisScale.logarithmic(covering: drawable.map(\.1))
                          : AxisScale.linear(covering: drawable.map(\.1))

        let legend = series.count > 1
            ? series.indices.map { LegendEntry(name: series[$0].name, color: Palette.color($0),
                                               mark: .line(dash: Palette.dash($0))) } : []
        let frame = PlotFrame.cartesian(tickLabelWidth: Axes.tickLabelWidth(yScale),
                                        xLabelsHeight: Axes.levelLabelsHeight, legendWidth: Legend.width(of: legend))
        var doc = SVGDocument(width: ChartStyle.width, height: ChartStyle.height, title: title)
        Axes.drawValueAxis(yScale, title: yLabel, frame: frame, into: &doc)
        Axes.drawNumericXAxis(xScale, title: xLabel, frame: frame, into: &doc)
        for (index, line) in points.enumerated() {
            let placed = line.map { p in
                p.flatMap { p in
                    xScale.fraction(of: p.0).flatMap { fx in
                        yScale.fraction(of: p.1).map { Point(x: frame.x(fx), y: frame.y($0)) }
                    }
                }
            }
            drawSeries(placed, index: index, into: &doc)
        }
        Legend.draw(legend, left: frame.right + 12, top: frame.top, maxHeight: frame.height, into: &doc)
        ChartChrome.drawTitle(title, into: &doc)
        return doc.rendered()
    }

    /// Series `index` through `points` (nil where a point is skipped): a polyline per run of
    /// points, and dots for lone points or short series.
    private func drawSeries(_ points: [Point?], index: Int, into doc: inout SVGDocument) {
        let color = Palette.color(index)
        var runs: [[Point]] = [[]]
        for point in points {
            if let point { runs[runs.count - 1].append(point) } else if !runs[runs.count - 1].isEmpty { runs.append([]) }
        }
        let dotted = points.compactMap { $0 }.count <= 40
        doc.openGroup(cssClass: "series", tooltip: series[index].name.isEmpty ? nil : series[index].name)
        for run in runs where run.count > 1 {
            doc.polyline(run, stroke: color, width: 1.75, dash: Palette.dash(index), cssClass: "line")
        }
        for run in runs where dotted || run.count == 1 {
            for point in run { doc.circle(at: point, radius: 2.5, fill: color, cssClass: "marker") }
        }
        doc.closeGroup()
    }
}
