import Foundation

/// A heatmap of a table of values (such as the routing probability of each class to each
/// expert), coloured on the viridis scale from the smallest value (dark purple) to the
/// largest (yellow), with a colour bar showing both ends.
///
/// Cells are square, up to 40 pixels, shrinking so that the grid fits about 720 × 540
/// pixels; the image is sized to the grid. Each cell shows its value, in black or white for
/// contrast, when ``showValues`` is on and the text fits the cell, and always has a tooltip
/// with its row, column and value. Missing, nil, NaN and infinite values are blank grey
/// cells. No cells, or no drawable value, give a chart saying "no data".
public struct Heatmap: Sendable {
    /// The chart title.
    public var title: String
    /// The row names, top to bottom.
    public var rowLabels: [String]
    /// The column names, left to right.
    public var columnLabels: [String]
    /// The values, rows × columns; nil is an empty cell. The grid is as large as the labels
    /// or the values, whichever is larger; cells without a value are empty.
    public var values: [[Double?]]
    /// The title of the column axis.
    public var xLabel: String
    /// The title of the row axis.
    public var yLabel: String
    /// The printf format of the values in cells, tooltips and on the colour bar: one
    /// floating-point conversion such as "%.3f" or "%.1e" (anything else falls back to "%.2f").
    public var valueFormat: String = "%.2f"
    /// Whether cells show their values (when the text fits).
    public var showValues: Bool = true

    /// A heatmap of `values`, rows labelled `rowLabels` and columns `columnLabels`.
    public init(title: String, rowLabels: [String], columnLabels: [String], values: [[Double?]],
                xLabel: String, yLabel: String) {
        self.title = title
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.values = values
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    /// The value of cell (`row`, `column`), when there is one that can be drawn.
    func value(_ row: Int, _ column: Int) -> Double? {
        guard row < values.count, column < values[row].count, let v = values[row][column], v.isPlottable else { return nil }
        return v
    }

    /// The chart as a standalone SVG document sized to the grid; equal charts give identical text.
    public func svg() -> String {
        let rows = max(rowLabels.count, values.count)
        let columns = max(columnLabels.count, values.map(\.count).max() ?? 0)
        let drawable = (0..<rows).flatMap { r in (0..<columns).compactMap { value(r, $0) } }
        guard let low = drawable.min(), let high = drawable.max() else { return ChartChrome.noData(title: title) }
        let layout = HeatmapLayout(rows: rows, columns: columns, rowLabels: rowLabels, columnLabels: columnLabels,
                                   rangeLabels: [format(low), format(high)])
        var doc = SVGDocument(width: layout.width, height: layout.height, title: title)
        drawCells(layout: layout, low: low, high: high, into: &doc)
        layout.drawLabels(rowLabels: rowLabels, columnLabels: columnLabels, xLabel: xLabel, yLabel: yLabel, into: &doc)
        ColorBar.draw(low: low, high: high, labels: (format(low), format(high)), frame: layout.colorBar, into: &doc)
        ChartChrome.drawTitle(title, into: &doc)
        return doc.rendered()
    }

    private func format(_ v: Double) -> String { ValueFormat.format(v, valueFormat) }

    /// The cells, coloured by value, with their values when they fit.
    private func drawCells(layout: HeatmapLayout, low: Double, high: Double, into doc: inout SVGDocument) {
        let texts = (0..<layout.rows).map { r in (0..<layout.columns).map { value(r, $0).map(format) } }
        let widest = texts.joined().compactMap { $0.map { TextMetrics.width($0, size: ChartStyle.valueSize) } }.max() ?? 0
        let labelled = showValues && layout.cell >= ChartStyle.valueSize + 4 && widest <= layout.cell - 4
        let stroke = layout.cell >= 6 ? "#ffffff" : nil
        doc.openGroup(cssClass: "cells")
        for r in 0..<layout.rows {
            for c in 0..<layout.columns {
                let x = layout.grid.left + Double(c) * layout.cell, y = layout.grid.top + Double(r) * layout.cell
                let name = "\(label(rowLabels, r)), \(label(columnLabels, c))"
                guard let v = value(r, c), let text = texts[r][c] else {
                    doc.rect(x: x, y: y, width: layout.cell, height: layout.cell, fill: "#f0f0f0", stroke: stroke,
                             strokeWidth: 0.5, cssClass: "cell empty", tooltip: "\(name): no value")
                    continue
                }
                let color = Viridis.color(high > low ? (v - low) / (high - low) : 0.5)
                doc.rect(x: x, y: y, width: layout.cell, height: layout.cell, fill: color.hex, stroke: stroke,
                         strokeWidth: 0.5, cssClass: "cell", tooltip: "\(name): \(text)")
                if labelled {
                    let centre = Point(x: x + layout.cell / 2, y: y + layout.cell / 2 + 0.35 * ChartStyle.valueSize)
                    doc.text(text, at: centre, size: ChartStyle.valueSize, anchor: .middle,
                             fill: color.contrastingText, cssClass: "cell-value")
                }
            }
        }
        doc.closeGroup()
    }

    /// Label `i` of `labels`, or its 1-based number when there is none.
    private func label(_ labels: [String], _ i: Int) -> String {
        i < labels.count && !labels[i].isEmpty ? labels[i] : "#\(i + 1)"
    }
}
