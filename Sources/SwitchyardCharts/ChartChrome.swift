/// The parts every chart shares around its data: the title, the axis titles, and the
/// whole chart that says "no data" when there is nothing to draw.
enum ChartChrome {
    /// The chart title, bold and centred in the title band, cut to the chart width.
    static func drawTitle(_ title: String, into doc: inout SVGDocument) {
        let fit = TextMetrics.fitted(title, maxWidth: doc.width - 24, size: ChartStyle.titleSize)
        doc.text(fit.text, at: Point(x: doc.width / 2, y: 24), size: ChartStyle.titleSize, anchor: .middle,
                 bold: true, cssClass: "chart-title", tooltip: fit.cut ? title : nil)
    }

    /// A horizontal axis title centred on `centreX` with its baseline at `baseline`.
    static func drawXTitle(_ title: String, centreX: Double, baseline: Double, maxWidth: Double,
                           into doc: inout SVGDocument) {
        guard !title.isEmpty else { return }
        let fit = TextMetrics.fitted(title, maxWidth: maxWidth, size: ChartStyle.fontSize)
        doc.text(fit.text, at: Point(x: centreX, y: baseline), anchor: .middle, cssClass: "axis-title",
                 tooltip: fit.cut ? title : nil)
    }

    /// A vertical axis title, read bottom to top, centred on `centreY` at the left edge.
    static func drawYTitle(_ title: String, centreY: Double, maxHeight: Double, into doc: inout SVGDocument) {
        guard !title.isEmpty else { return }
        let fit = TextMetrics.fitted(title, maxWidth: maxHeight, size: ChartStyle.fontSize)
        let anchor = Point(x: 8 + ChartStyle.fontSize, y: centreY)
        doc.text(fit.text, at: anchor, anchor: .middle, rotation: -90, cssClass: "axis-title",
                 tooltip: fit.cut ? title : nil)
    }

    /// A `width` × `height` chart with its title and "no data" in a grey frame.
    static func noData(title: String, width: Double = ChartStyle.width, height: Double = ChartStyle.height) -> String {
        var doc = SVGDocument(width: width, height: height, title: title)
        drawTitle(title, into: &doc)
        doc.rect(x: 16, y: ChartStyle.titleBand, width: width - 32, height: height - ChartStyle.titleBand - 16,
                 fill: "#fafafa", stroke: "#cccccc", cssClass: "frame")
        doc.text("no data", at: Point(x: width / 2, y: (height + ChartStyle.titleBand) / 2), size: 13,
                 anchor: .middle, fill: ChartStyle.mutedColor, cssClass: "no-data")
        return doc.rendered()
    }
}
