/// A point in SVG user units.
struct Point {
    var x: Double
    var y: Double
}

/// Where a text sits relative to its anchor point.
enum TextAnchor: String {
    case start, middle, end
}

/// An SVG document under construction. Elements are appended in drawing order and written
/// with a fixed attribute order, escaped text and fixed number formatting, so equal charts
/// give byte-identical documents. Any element can carry a tooltip (an SVG `<title>` child).
struct SVGDocument {
    /// The size of the image in pixels.
    let width: Double
    let height: Double
    private var body: [String] = []

    /// An empty `width` × `height` document titled `title`, on a white background.
    init(width: Double, height: Double, title: String) {
        self.width = width
        self.height = height
        body.append("<title>\(xmlEscaped(title))</title>")
        rect(x: 0, y: 0, width: width, height: height, fill: "#ffffff", cssClass: "background")
    }

    /// A rectangle.
    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String,
                       stroke: String? = nil, strokeWidth: Double = 1, cssClass: String? = nil, tooltip: String? = nil) {
        var attributes = [("class", cssClass), ("x", svgNumber(x)), ("y", svgNumber(y)),
                          ("width", svgNumber(max(0, width))), ("height", svgNumber(max(0, height))), ("fill", fill)]
        if let stroke { attributes += [("stroke", stroke), ("stroke-width", svgNumber(strokeWidth))] }
        element("rect", attributes, tooltip: tooltip)
    }

    /// A straight line, dashed when `dash` is an SVG dash array such as "5 4".
    mutating func line(from a: Point, to b: Point, stroke: String, width: Double = 1, dash: String? = nil,
                       cssClass: String? = nil, tooltip: String? = nil) {
        element("line", [("class", cssClass), ("x1", svgNumber(a.x)), ("y1", svgNumber(a.y)),
                         ("x2", svgNumber(b.x)), ("y2", svgNumber(b.y)), ("stroke", stroke),
                         ("stroke-width", svgNumber(width)), ("stroke-dasharray", dash)], tooltip: tooltip)
    }

    /// A polyline through `points`, unfilled.
    mutating func polyline(_ points: [Point], stroke: String, width: Double = 1.5, dash: String? = nil,
                           cssClass: String? = nil) {
        let list = points.map { "\(svgNumber($0.x)),\(svgNumber($0.y))" }.joined(separator: " ")
        element("polyline", [("class", cssClass), ("points", list), ("fill", "none"), ("stroke", stroke),
                             ("stroke-width", svgNumber(width)), ("stroke-dasharray", dash),
                             ("stroke-linejoin", "round")], tooltip: nil)
    }

    /// A filled circle.
    mutating func circle(at centre: Point, radius: Double, fill: String, cssClass: String? = nil, tooltip: String? = nil) {
        element("circle", [("class", cssClass), ("cx", svgNumber(centre.x)), ("cy", svgNumber(centre.y)),
                           ("r", svgNumber(radius)), ("fill", fill)], tooltip: tooltip)
    }

    /// One line of text with its baseline at `at`, rotated by `rotation` degrees about that
    /// point (negative turns anticlockwise).
    mutating func text(_ content: String, at point: Point, size: Double = 11, anchor: TextAnchor = .start,
                       bold: Bool = false, fill: String = "#222222", rotation: Double? = nil,
                       cssClass: String? = nil, tooltip: String? = nil) {
        let transform = rotation.map { "rotate(\(svgNumber($0)) \(svgNumber(point.x)) \(svgNumber(point.y)))" }
        element("text", [("class", cssClass), ("x", svgNumber(point.x)), ("y", svgNumber(point.y)),
                         ("font-size", svgNumber(size)), ("text-anchor", anchor == .start ? nil : anchor.rawValue),
                         ("font-weight", bold ? "bold" : nil), ("fill", fill), ("transform", transform)],
                tooltip: tooltip, content: content)
    }

    /// Opens a group; every `openGroup` needs its `closeGroup`.
    mutating func openGroup(cssClass: String, tooltip: String? = nil) {
        body.append("<g class=\"\(xmlEscaped(cssClass))\">" + (tooltip.map { "<title>\(xmlEscaped($0))</title>" } ?? ""))
    }

    /// Closes the innermost open group.
    mutating func closeGroup() {
        body.append("</g>")
    }

    /// The complete document, one element a line.
    func rendered() -> String {
        let size = "width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\""
        let header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" \(size) viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\""
            + " font-family=\"sans-serif\">\n"
        return header + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// Appends `<name attributes>` with an optional tooltip and text content; nil attributes
    /// are left out.
    private mutating func element(_ name: String, _ attributes: [(String, String?)], tooltip: String?,
                                  content: String? = nil) {
        var tag = "<" + name
        for case let (key, value?) in attributes { tag += " \(key)=\"\(xmlEscaped(value))\"" }
        guard tooltip != nil || content != nil else { body.append(tag + "/>"); return }
        tag += ">" + (tooltip.map { "<title>\(xmlEscaped($0))</title>" } ?? "") + xmlEscaped(content ?? "")
        body.append(tag + "</\(name)>")
    }
}
