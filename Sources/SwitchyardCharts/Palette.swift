/// Series colours: the Okabe–Ito palette, distinguishable with the common forms of colour
/// blindness, ordered so the first colours read best on white (yellow comes last).
enum Palette {
    /// The eight colours, as SVG hex colours.
    static let colors = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]

    /// Dash patterns that tell series apart once the colours repeat (series 9 to 16 are
    /// dashed, and so on); nil is a solid line.
    static let dashes: [String?] = [nil, "6 3", "2 2", "8 3 2 3"]

    /// The colour of series `index`.
    static func color(_ index: Int) -> String {
        colors[index % colors.count]
    }

    /// The dash pattern of line series `index`.
    static func dash(_ index: Int) -> String? {
        dashes[(index / colors.count) % dashes.count]
    }
}
