/// One line of a legend: a mark in the series' colour and its name.
struct LegendEntry {
    /// How the entry's series is drawn.
    enum Mark {
        /// A filled square, for bars.
        case swatch
        /// A line, dashed or solid, for line series.
        case line(dash: String?)
    }

    var name: String
    var color: String
    var mark: Mark
}

/// The legend to the right of the plot: one entry a line, names cut to 22 characters (full
/// name as tooltip), and "+N more" when the entries do not fit the height.
enum Legend {
    static let maxCharacters = 22
    static let rowHeight = 16.0
    private static let markWidth = 18.0

    /// The width the legend of `entries` takes (0 when there are none).
    static func width(of entries: [LegendEntry]) -> Double {
        let names = entries.map { TextMetrics.truncated($0.name, maxCharacters: maxCharacters).text }
        guard let widest = names.map({ TextMetrics.width($0, size: ChartStyle.fontSize) }).max() else { return 0 }
        return markWidth + 6 + max(widest, TextMetrics.width("+99 more", size: ChartStyle.fontSize))
    }

    /// Draws the legend with its top-left corner at (`left`, `top`), at most `maxHeight` tall.
    static func draw(_ entries: [LegendEntry], left: Double, top: Double, maxHeight: Double,
                     into doc: inout SVGDocument) {
        guard !entries.isEmpty else { return }
        let rows = max(1, Int(maxHeight / rowHeight))
        let shown = entries.count <= rows ? entries.count : rows - 1
        doc.openGroup(cssClass: "legend")
        for (row, entry) in entries.prefix(shown).enumerated() {
            let middle = top + (Double(row) + 0.5) * rowHeight
            doc.openGroup(cssClass: "legend-entry")
            switch entry.mark {
            case .swatch:
                doc.rect(x: left + 3, y: middle - 5, width: 12, height: 10, fill: entry.color)
            case .line(let dash):
                doc.line(from: Point(x: left, y: middle), to: Point(x: left + markWidth, y: middle),
                         stroke: entry.color, width: 2, dash: dash)
            }
            let name = TextMetrics.truncated(entry.name, maxCharacters: maxCharacters)
            doc.text(name.text, at: Point(x: left + markWidth + 6, y: middle + 0.35 * ChartStyle.fontSize),
                     tooltip: name.cut ? entry.name : nil)
            doc.closeGroup()
        }
        if shown < entries.count {
            let rest = entries.dropFirst(shown)
            let baseline = top + (Double(shown) + 0.5) * rowHeight + 0.35 * ChartStyle.fontSize
            doc.text("+\(rest.count) more", at: Point(x: left + markWidth + 6, y: baseline), fill: ChartStyle.mutedColor,
                     cssClass: "legend-more", tooltip: rest.map(\.name).joined(separator: ", "))
        }
        doc.closeGroup()
    }
}
