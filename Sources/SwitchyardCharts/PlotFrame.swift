/// The rectangle data are drawn in, and the margins around it of a chart with a title on
/// top, a value axis on the left, an x axis below and an optional legend on the right.
struct PlotFrame {
    var left: Double
    var top: Double
    var width: Double
    var height: Double

    var right: Double { left + width }
    var bottom: Double { top + height }

    /// The x coordinate of the fraction `f` of the width from the left edge.
    func x(_ f: Double) -> Double { left + f * width }

    /// The y coordinate of the fraction `f` of the height from the bottom edge.
    func y(_ f: Double) -> Double { top + (1 - f) * height }

    /// The plot area of a `chartWidth` × `chartHeight` chart whose value-axis tick labels
    /// are `tickLabelWidth` wide, whose x-axis tick labels are `xLabelsHeight` tall, and
    /// whose legend is `legendWidth` wide (0 without a legend), leaving at least `minimumLeft`
    /// on the left. The width does not depend on `xLabelsHeight`, so category slots can be
    /// measured before the labels are laid out.
    static func cartesian(chartWidth: Double = ChartStyle.width, chartHeight: Double = ChartStyle.height,
                          tickLabelWidth: Double, xLabelsHeight: Double, legendWidth: Double,
                          minimumLeft: Double = 0) -> PlotFrame {
        let font = ChartStyle.fontSize
        let left = max(minimumLeft, 8 + font + 8 + tickLabelWidth + ChartStyle.tickLength + 3)
        let right = 16 + (legendWidth > 0 ? legendWidth + 12 : 0)
        let bottom = ChartStyle.tickLength + 3 + xLabelsHeight + 6 + font + 8
        return PlotFrame(left: left, top: ChartStyle.titleBand, width: max(40, chartWidth - left - right),
                         height: max(40, chartHeight - ChartStyle.titleBand - bottom))
    }
}
