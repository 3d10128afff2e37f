/// Sizes and colours shared by every chart.
enum ChartStyle {
    /// The size of line charts, bar charts and histograms.
    static let width = 640.0
    static let height = 360.0
    /// Font sizes: labels, the chart title, heatmap cell values.
    static let fontSize = 11.0
    static let titleSize = 14.0
    static let valueSize = 10.0
    /// The height of the band holding the title.
    static let titleBand = 40.0
    /// The length of tick marks.
    static let tickLength = 5.0
    static let textColor = "#222222"
    static let axisColor = "#444444"
    static let gridColor = "#e6e6e6"
    static let mutedColor = "#666666"
}
