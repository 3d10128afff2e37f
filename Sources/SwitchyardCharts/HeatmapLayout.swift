import Foundation

/// Where the parts of a heatmap go: the square cells, the row labels on the left, the
/// column labels below, the colour bar on the right, and the size of the whole image.
struct HeatmapLayout {
    static let maxCell = 40.0
    static let maxGridWidth = 720.0
    static let maxGridHeight = 540.0
    static let maxRowLabelCharacters = 18

    let rows: Int
    let columns: Int
    /// The side of a cell.
    let cell: Double
    /// The grid of cells.
    let grid: PlotFrame
    /// The colour bar.
    let colorBar: PlotFrame
    let columnLayout: CategoryLabels
    let width: Double
    let height: Double

    /// The layout of a `rows` × `columns` grid whose colour bar is labelled `rangeLabels`.
    init(rows: Int, columns: Int, rowLabels: [String], columnLabels: [String], rangeLabels: [String]) {
        let font = ChartStyle.fontSize
        self.rows = rows
        self.columns = columns
        cell = min(Self.maxCell, Self.maxGridWidth / Double(columns), Self.maxGridHeight / Double(rows))
        let rowLabelWidth = rowLabels.map {
            TextMetrics.width(TextMetrics.truncated($0, maxCharacters: Self.maxRowLabelCharacters).text, size: font)
        }.max() ?? 0
        let gridWidth = cell * Double(columns), gridHeight = cell * Double(rows)
        columnLayout = CategoryLabels(columnLabels + Array(repeating: "", count: max(0, columns - columnLabels.count)),
                                      slotWidth: cell)
        let left = max(8 + font + 8 + rowLabelWidth + 6, 4 + columnLayout.overhang)
        grid = PlotFrame(left: left, top: ChartStyle.titleBand, width: gridWidth, height: gridHeight)
        colorBar = PlotFrame(left: grid.right + 16, top: grid.top, width: 14, height: min(max(gridHeight, 80), 300))
        let rangeWidth = rangeLabels.map { TextMetrics.width($0, size: font) }.max() ?? 0
        width = max(360, ceil(colorBar.right + 6 + rangeWidth + 12))
        let labelsBottom = Axes.xTitleBaseline(grid, labelsHeight: columnLayout.height) + 8
        height = ceil(max(labelsBottom, colorBar.bottom + 12))
    }

    /// The row labels (every n-th when cells are shorter than a line of text), the column
    /// labels and both axis titles.
    func drawLabels(rowLabels: [String], columnLabels: [String], xLabel: String, yLabel: String,
                    into doc: inout SVGDocument) {
        let font = ChartStyle.fontSize
        let stride = max(1, Int(ceil((font + 1) / cell)))
        doc.openGroup(cssClass: "row-labels")
        for r in Swift.stride(from: 0, to: min(rows, rowLabels.count), by: stride) {
            let fit = TextMetrics.truncated(rowLabels[r], maxCharacters: Self.maxRowLabelCharacters)
            let baseline = grid.top + (Double(r) + 0.5) * cell + 0.35 * font
            doc.text(fit.text, at: Point(x: grid.left - 6, y: baseline), anchor: .end, cssClass: "tick-label",
                     tooltip: fit.cut ? rowLabels[r] : nil)
        }
        doc.closeGroup()
        let padded = columnLabels + Array(repeating: "", count: max(0, columns - columnLabels.count))
        columnLayout.draw(full: padded, centre: { grid.left + (Double($0) + 0.5) * cell },
                          top: grid.bottom + ChartStyle.tickLength, into: &doc)
        ChartChrome.drawXTitle(xLabel, centreX: grid.left + grid.width / 2,
                               baseline: Axes.xTitleBaseline(grid, labelsHeight: columnLayout.height),
                               maxWidth: doc.width - 16, into: &doc)
        ChartChrome.drawYTitle(yLabel, centreY: grid.top + grid.height / 2, maxHeight: max(grid.height, 80), into: &doc)
    }
}
