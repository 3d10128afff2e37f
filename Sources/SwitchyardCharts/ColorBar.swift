/// The colour-bar legend of a heatmap: the viridis scale from the smallest value (bottom)
/// to the largest (top), labelled with both.
enum ColorBar {
    /// The number of bands the scale is drawn with.
    static let bands = 32

    /// Draws the bar in `frame`, `labels.high` at the top and `labels.low` at the bottom;
    /// when `low == high`, one band in the middle colour and one label.
    static func draw(low: Double, high: Double, labels: (low: String, high: String), frame: PlotFrame,
                     into doc: inout SVGDocument) {
        let font = ChartStyle.fontSize
        let count = high > low ? bands : 1
        let band = frame.height / Double(count)
        doc.openGroup(cssClass: "colorbar")
        for i in 0..<count {
            let t = count == 1 ? 0.5 : (Double(i) + 0.5) / Double(count)
            // Bands overlap by half a pixel so no seam shows between them.
            doc.rect(x: frame.left, y: frame.bottom - Double(i + 1) * band, width: frame.width,
                     height: band + (i + 1 < count ? 0.5 : 0), fill: Viridis.color(t).hex)
        }
        doc.rect(x: frame.left, y: frame.top, width: frame.width, height: frame.height, fill: "none",
                 stroke: "#888888", strokeWidth: 0.5)
        let x = frame.right + 6
        if high > low {
            doc.text(labels.high, at: Point(x: x, y: frame.top + 0.8 * font), cssClass: "colorbar-max")
            doc.text(labels.low, at: Point(x: x, y: frame.bottom), cssClass: "colorbar-min")
        } else {
            doc.text(labels.low, at: Point(x: x, y: frame.top + frame.height / 2 + 0.35 * font), cssClass: "colorbar-min")
        }
        doc.closeGroup()
    }
}
