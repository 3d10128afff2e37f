/// Value axes with gridlines, tick marks, tick labels and titles.
enum Axes {
    /// The width of the widest tick label of `scale`.
    static func tickLabelWidth(_ scale: AxisScale) -> Double {
        scale.ticks.map { TextMetrics.width($0.label, size: ChartStyle.fontSize) }.max() ?? 0
    }

    /// The height of one line of level x-axis tick labels.
    static let levelLabelsHeight = ChartStyle.fontSize + 2

    /// The baseline of the x-axis title of a plot whose x tick labels are `labelsHeight` tall
    /// (matching the margins of ``PlotFrame/cartesian(chartWidth:chartHeight:tickLabelWidth:xLabelsHeight:legendWidth:)``).
    static func xTitleBaseline(_ frame: PlotFrame, labelsHeight: Double) -> Double {
        frame.bottom + ChartStyle.tickLength + 3 + labelsHeight + 6 + ChartStyle.fontSize
    }

    /// The vertical value axis on the left of `frame`: horizontal gridlines, ticks, labels,
    /// the axis line and the title.
    static func drawValueAxis(_ scale: AxisScale, title: String, frame: PlotFrame, into doc: inout SVGDocument) {
        doc.openGroup(cssClass: "y-axis")
        for tick in scale.ticks {
            let y = frame.y(tick.fraction)
            doc.line(from: Point(x: frame.left, y: y), to: Point(x: frame.right, y: y), stroke: ChartStyle.gridColor,
                     cssClass: "grid")
            doc.line(from: Point(x: frame.left - ChartStyle.tickLength, y: y), to: Point(x: frame.left, y: y),
                     stroke: ChartStyle.axisColor)
            doc.text(tick.label, at: Point(x: frame.left - ChartStyle.tickLength - 3, y: y + 0.35 * ChartStyle.fontSize),
                     anchor: .end, cssClass: "tick-label")
        }
        doc.line(from: Point(x: frame.left, y: frame.top), to: Point(x: frame.left, y: frame.bottom),
                 stroke: ChartStyle.axisColor, cssClass: "axis-line")
        ChartChrome.drawYTitle(title, centreY: frame.top + frame.height / 2, maxHeight: frame.height, into: &doc)
        doc.closeGroup()
    }

    /// The horizontal numeric axis below `frame`: vertical gridlines, ticks, labels, the axis
    /// line and the title.
    static func drawNumericXAxis(_ scale: AxisScale, title: String, frame: PlotFrame, into doc: inout SVGDocument) {
        doc.openGroup(cssClass: "x-axis")
        for tick in scale.ticks {
            let x = frame.x(tick.fraction)
            doc.line(from: Point(x: x, y: frame.top), to: Point(x: x, y: frame.bottom), stroke: ChartStyle.gridColor,
                     cssClass: "grid")
            doc.line(from: Point(x: x, y: frame.bottom), to: Point(x: x, y: frame.bottom + ChartStyle.tickLength),
                     stroke: ChartStyle.axisColor)
            let baseline = frame.bottom + ChartStyle.tickLength + 3 + 0.85 * ChartStyle.fontSize
            doc.text(tick.label, at: Point(x: x, y: baseline), anchor: .middle, cssClass: "tick-label")
        }
        drawBaseline(frame, into: &doc)
        drawXTitle(title, frame: frame, labelsHeight: levelLabelsHeight, into: &doc)
        doc.closeGroup()
    }

    /// The x-axis line along the bottom of `frame`.
    static func drawBaseline(_ frame: PlotFrame, into doc: inout SVGDocument) {
        doc.line(from: Point(x: frame.left, y: frame.bottom), to: Point(x: frame.right, y: frame.bottom),
                 stroke: ChartStyle.axisColor, cssClass: "axis-line")
    }

    /// The x-axis title, centred under `frame` below tick labels `labelsHeight` tall.
    static func drawXTitle(_ title: String, frame: PlotFrame, labelsHeight: Double, into doc: inout SVGDocument) {
        ChartChrome.drawXTitle(title, centreX: frame.left + frame.width / 2,
                               baseline: xTitleBaseline(frame, labelsHeight: labelsHeight),
                               maxWidth: doc.width - 16, into: &doc)
    }
}
