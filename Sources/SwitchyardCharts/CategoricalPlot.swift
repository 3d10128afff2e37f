/// Bars over categories, grouped by series: the renderer behind ``BarChart`` and
/// ``HistogramChart``. Bars grow from zero; values that cannot be drawn leave a gap.
struct CategoricalPlot {
    var title: String
    var categories: [String]
    var series: [ChartSeries]
    var xLabel: String
    var yLabel: String
    var referenceLine: Double?
    var referenceLabel: String?
    var errorBars: [[ClosedRange<Double>?]]?
    /// The share of a category's slot its bars fill: below 1 for bar charts, 1 for histograms.
    var fill: Double

    private static let referenceColor = "#555555"
    private static let referenceDash = "5 4"

    /// The height of bar `s` in category `c`, when there is one that can be drawn.
    private func value(_ s: Int, _ c: Int) -> Double? {
        let y = series[s].y
        return c < y.count && y[c].isPlottable ? y[c] : nil
    }

    /// The error bar of series `s` in category `c`, when both ends can be drawn.
    private func errorBar(_ s: Int, _ c: Int) -> ClosedRange<Double>? {
        guard let bars = errorBars, s < bars.count, c < bars[s].count, let range = bars[s][c],
              range.lowerBound.isPlottable, range.upperBound.isPlottable else { return nil }
        return range
    }

    private var reference: Double? { referenceLine.flatMap { $0.isPlottable ? $0 : nil } }

    /// The chart as an SVG document.
    func svg() -> String {
        let cells = series.indices.flatMap { s in categories.indices.map { (s, $0) } }
        let values = cells.compactMap { value($0.0, $0.1) }
        guard !values.isEmpty else { return ChartChrome.noData(title: title) }
        let bounds = cells.compactMap { errorBar($0.0, $0.1) }.flatMap { [$0.lowerBound, $0.upperBound] }
        let scale = AxisScale.linear(covering: values + bounds + (reference.map { [$0] } ?? []), includeZero: true)

        var legend = series.count > 1
            ? series.enumerated().map { LegendEntry(name: $1.name, color: Palette.color($0), mark: .swatch) } : []
        if reference != nil, let label = referenceLabel {
            legend.append(LegendEntry(name: label, color: Self.referenceColor, mark: .line(dash: Self.referenceDash)))
        }
        let legendWidth = Legend.width(of: legend), tickWidth = Axes.tickLabelWidth(scale)
        // Lay the labels out under the widest slots, then again once turned labels have
        // claimed room on the left; the bars fill the final frame.
        func plotFrame(_ labels: CategoryLabels?) -> PlotFrame {
            PlotFrame.cartesian(tickLabelWidth: tickWidth, xLabelsHeight: labels?.height ?? 0, legendWidth: legendWidth,
                                minimumLeft: 4 + (labels?.overhang ?? 0))
        }
        let count = Double(categories.count)
        let first = CategoryLabels(categories, slotWidth: plotFrame(nil).width / count)
        let labels = CategoryLabels(categories, slotWidth: plotFrame(first).width / count)
        let frame = plotFrame(labels), slot = frame.width / count

        var doc = SVGDocument(width: ChartStyle.width, height: ChartStyle.height, title: title)
        Axes.drawValueAxis(scale, title: yLabel, frame: frame, into: &doc)
        drawBars(scale: scale, frame: frame, slot: slot, into: &doc)
        drawReference(scale: scale, frame: frame, into: &doc)
        Axes.drawBaseline(frame, into: &doc)
        labels.draw(full: categories, centre: { frame.left + (Double($0) + 0.5) * slot },
                    top: frame.bottom + ChartStyle.tickLength, into: &doc)
        Axes.drawXTitle(xLabel, frame: frame, labelsHeight: labels.height, into: &doc)
        Legend.draw(legend, left: frame.right + 12, top: frame.top, maxHeight: frame.height, into: &doc)
        ChartChrome.drawTitle(title, into: &doc)
        return doc.rendered()
    }

    /// The bars, one group per series, then the error bars on top; a zero line when zero is
    /// above the bottom of the plot.
    private func drawBars(scale: AxisScale, frame: PlotFrame, slot: Double, into doc: inout SVGDocument) {
        let zero = frame.y(scale.fraction(of: 0) ?? 0)
        let barWidth = slot * fill / Double(series.count)
        func left(_ s: Int, _ c: Int) -> Double {
            frame.left + Double(c) * slot + slot * (1 - fill) / 2 + Double(s) * barWidth
        }
        func label(_ s: Int, _ c: Int) -> String {
            let category = categories[c].isEmpty ? "#\(c + 1)" : categories[c]
            return series.count > 1 ? "\(category), \(series[s].name)" : category
        }
        let outline = fill >= 1 && barWidth > 3 ? "#ffffff" : nil
        for s in series.indices {
            doc.openGroup(cssClass: "series")
            for c in categories.indices {
                guard let v = value(s, c), let f = scale.fraction(of: v) else { continue }
                let top = frame.y(f)
                doc.rect(x: left(s, c), y: min(top, zero), width: barWidth, height: Swift.abs(zero - top),
                         fill: Palette.color(s), stroke: outline, strokeWidth: 0.5, cssClass: "bar",
                         tooltip: "\(label(s, c)): \(valueText(v))")
            }
            doc.closeGroup()
        }
        for s in series.indices {
            for c in categories.indices {
                guard let range = errorBar(s, c), let low = scale.fraction(of: range.lowerBound),
                      let high = scale.fraction(of: range.upperBound) else { continue }
                let x = left(s, c) + barWidth / 2, cap = min(barWidth * 0.5, 8) / 2
                doc.openGroup(cssClass: "error-bar",
                              tooltip: "\(label(s, c)): \(valueText(range.lowerBound)) to \(valueText(range.upperBound))")
                doc.line(from: Point(x: x, y: frame.y(low)), to: Point(x: x, y: frame.y(high)), stroke: "#222222")
                for end in [low, high] {
                    doc.line(from: Point(x: x - cap, y: frame.y(end)), to: Point(x: x + cap, y: frame.y(end)),
                             stroke: "#222222")
                }
                doc.closeGroup()
            }
        }
        if zero < frame.bottom - 0.5 {
            doc.line(from: Point(x: frame.left, y: zero), to: Point(x: frame.right, y: zero),
                     stroke: ChartStyle.axisColor, cssClass: "zero-line")
        }
    }

    /// The dashed reference line across the plot.
    private func drawReference(scale: AxisScale, frame: PlotFrame, into doc: inout SVGDocument) {
        guard let reference, let f = scale.fraction(of: reference) else { return }
        let y = frame.y(f)
        doc.line(from: Point(x: frame.left, y: y), to: Point(x: frame.right, y: y), stroke: Self.referenceColor,
                 width: 1.5, dash: Self.referenceDash, cssClass: "reference",
                 tooltip: "\(referenceLabel ?? "reference"): \(valueText(reference))")
    }
}
