import Foundation

/// How the labels of categories (bars, histogram bins, heatmap columns) sit under their
/// slots without overlapping: level when they fit; short labels (4 characters or fewer)
/// level but only every n-th; longer ones turned 45° and cut to `maxCharacters`, every n-th
/// when the slots are narrower than a line of text. Cut labels keep their full text as a
/// tooltip.
struct CategoryLabels {
    /// The labels as drawn, and whether each was cut.
    let shown: [(text: String, cut: Bool)]
    /// Whether the labels are turned 45°.
    let rotated: Bool
    /// Every `stride`-th label is drawn, starting with the first.
    let stride: Int
    /// The height the labels take below the axis.
    let height: Double
    /// How far turned labels reach left of the first slot's left edge (the plot needs that
    /// much room on its left); 0 for level labels.
    let overhang: Double

    /// The layout of `labels` under slots `slotWidth` wide.
    init(_ labels: [String], slotWidth: Double, maxCharacters: Int = 18) {
        let font = ChartStyle.fontSize
        let slot = max(slotWidth, 0.01)
        let widest = labels.map { TextMetrics.width($0, size: font) }.max() ?? 0
        let levelStride = Self.niceStride((widest + 6) / slot)
        if levelStride == 1 || labels.allSatisfy({ $0.count <= 4 }) {
            shown = labels.map { ($0, false) }
            rotated = false
            stride = levelStride
            height = Axes.levelLabelsHeight
            overhang = 0
        } else {
            shown = labels.map { TextMetrics.truncated($0, maxCharacters: maxCharacters) }
            rotated = true
            stride = Self.niceStride(1.6 * font / slot)
            let longest = shown.map { TextMetrics.width($0.text, size: font) }.max() ?? 0
            height = (longest + font) * 0.7072 + 2
            overhang = longest * 0.7072 - 0.3 * font - slot / 2
        }
    }

    /// The smallest of 1, 2, 5, 10, 20, 50… that is at least `raw`, so that the labels
    /// drawn are those of categories 0, 5, 10… rather than 0, 3, 6…
    static func niceStride(_ raw: Double) -> Int {
        var power = 1
        while true {
            for multiple in [1, 2, 5] where Double(multiple * power) >= raw { return multiple * power }
            power *= 10
        }
    }

    /// Draws the labels with slot `i` centred on `centre(i)`, hanging from `top`; `full` are
    /// the uncut labels, for tooltips.
    func draw(full: [String], centre: (Int) -> Double, top: Double, into doc: inout SVGDocument) {
        let font = ChartStyle.fontSize
        doc.openGroup(cssClass: "category-labels")
        for i in Swift.stride(from: 0, to: shown.count, by: stride) where !shown[i].text.isEmpty {
            let tooltip = shown[i].cut ? full[i] : nil
            if rotated {
                doc.text(shown[i].text, at: Point(x: centre(i) + 0.3 * font, y: top + 0.6 * font), anchor: .end,
                         rotation: -45, cssClass: "tick-label", tooltip: tooltip)
            } else {
                doc.text(shown[i].text, at: Point(x: centre(i), y: top + 0.85 * font), anchor: .middle,
                         cssClass: "tick-label", tooltip: tooltip)
            }
        }
        doc.closeGroup()
    }
}
