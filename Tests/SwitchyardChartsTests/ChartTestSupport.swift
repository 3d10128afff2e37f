import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// An element of a parsed SVG document.
final class SVGNode {
    let name: String
    let attributes: [String: String]
    var children: [SVGNode] = []
    /// The character data directly inside the element (not inside its children).
    var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    /// The words of the `class` attribute.
    var classes: [String] { (attributes["class"] ?? "").split(separator: " ").map(String.init) }

    /// This element and every element inside it, in document order.
    var descendants: [SVGNode] { [self] + children.flatMap(\.descendants) }

    /// Every element of `name` in this subtree, carrying the class `cssClass` when given.
    func all(_ name: String? = nil, class cssClass: String? = nil) -> [SVGNode] {
        descendants.filter { ($0.name == name || name == nil) && (cssClass.map($0.classes.contains) ?? true) }
    }

    /// The tooltip: the text of the `<title>` child.
    var tooltip: String? { children.first { $0.name == "title" }?.text }

    /// Every text drawn in this subtree (text elements' own character data).
    var drawnTexts: [String] { all("text").map(\.text) }
}

/// Builds the SVGNode tree and records every parse or validation error.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [SVGNode] = []
    var root: SVGNode?
    var errors: [String] = []

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        let node = SVGNode(name: name, attributes: attributes)
        if let parent = stack.last { parent.children.append(node) } else { root = node }
        stack.append(node)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        errors.append("parse error at line \(parser.lineNumber): \(parseError)")
    }

    func parser(_ parser: XMLParser, validationErrorOccurred validationError: Error) {
        errors.append("validation error at line \(parser.lineNumber): \(validationError)")
    }
}

/// `svg` parsed as XML; fails the test on any parse error or when the root is not an
/// `<svg>` with the attributes every chart carries.
func parseSVG(_ svg: String, file: StaticString = #filePath, line: UInt = #line) throws -> SVGNode {
    let parser = XMLParser(data: Data(svg.utf8))
    let builder = TreeBuilder()
    parser.delegate = builder
    let parsed = parser.parse()
    XCTAssertTrue(parsed, "XMLParser failed: \(String(describing: parser.parserError))", file: file, line: line)
    XCTAssertEqual(builder.errors, [], "the SVG is not well-formed XML", file: file, line: line)
    let root = try XCTUnwrap(builder.root, "no root element", file: file, line: line)
    XCTAssertEqual(root.name, "svg", file: file, line: line)
    XCTAssertEqual(root.attributes["xmlns"], "http://www.w3.org/2000/svg", file: file, line: line)
    XCTAssertEqual(root.attributes["font-family"], "sans-serif", file: file, line: line)
    let (width, height) = (root.attributes["width"] ?? "?", root.attributes["height"] ?? "?")
    XCTAssertEqual(root.attributes["viewBox"], "0 0 \(width) \(height)", file: file, line: line)
    for node in root.descendants {
        for (key, value) in node.attributes where ["nan", "inf"].contains(where: value.lowercased().contains) {
            XCTFail("<\(node.name) \(key)=\"\(value)\">: a non-finite number leaked", file: file, line: line)
        }
    }
    let background = root.all("rect", class: "background").first
    XCTAssertEqual(background?.attributes["fill"], "#ffffff", "no white background", file: file, line: line)
    return root
}

/// Numbers the temporary directories of one test process.
private var renderCounter = 0

/// `svg` drawn by rsvg-convert (run directly, no shell) and decoded. Fails the test when
/// rsvg-convert is missing, fails, or writes anything to its standard error.
func renderPNG(_ svg: String, file: StaticString = #filePath, line: UInt = #line) throws -> PNGImage {
    let tool = "/usr/bin/rsvg-convert"
    guard FileManager.default.isExecutableFile(atPath: tool) else {
        XCTFail("\(tool) is missing: install it with `apt-get install librsvg2-bin` (or run scripts/install-deps.sh)",
                file: file, line: line)
        throw CocoaError(.fileNoSuchFile)
    }
    renderCounter += 1
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("switchyard-charts-\(getpid())-\(renderCounter)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let input = directory.appendingPathComponent("chart.svg"), output = directory.appendingPathComponent("chart.png")
    try Data(svg.utf8).write(to: input)

    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = ["--format", "png", "--output", output.path, input.path]
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, "rsvg-convert failed: \(message)", file: file, line: line)
    XCTAssertEqual(message, "", "rsvg-convert complained", file: file, line: line)
    return try PNGImage(data: Data(contentsOf: output))
}

extension PNGImage {
    /// The share of pixels whose colour differs from the top-left pixel (the background).
    var inkFraction: Double {
        let background = rgb(0, 0)
        var ink = 0
        for y in 0..<height { for x in 0..<width where rgb(x, y) != background { ink += 1 } }
        return Double(ink) / Double(width * height)
    }

    /// Whether the colours `a` and `b` (0xRRGGBB) differ by at most `tolerance` in each sample.
    private static func near(_ a: UInt32, _ b: UInt32, _ tolerance: Int) -> Bool {
        [16, 8, 0].allSatisfy { (shift: UInt32) -> Bool in
            let x = Int((a >> shift) & 0xff), y = Int((b >> shift) & 0xff)
            return abs(x - y) <= tolerance
        }
    }

    /// How many pixels have the colour `hex` ("#rrggbb"), each sample within `tolerance`.
    func count(_ hex: String, tolerance: Int = 2) -> Int {
        let target = UInt32(hex.dropFirst(), radix: 16)!
        var n = 0
        for y in 0..<height {
            for x in 0..<width where Self.near(rgb(x, y), target, tolerance) { n += 1 }
        }
        return n
    }
}

/// The checks every chart passes: `make()` twice gives the same text, which parses as an
/// SVG chart, and rsvg-convert draws it as an image of the document's size with ink on
/// more than `minInk` of its pixels and at least `minPixels` pixels of each of `colors`
/// (each sample within `tolerance`).
/// Returns the parsed document.
@discardableResult
func checkChart(_ make: () -> String, minInk: Double = 0.02, colors: [String] = [], minPixels: Int = 30,
                tolerance: Int = 2, file: StaticString = #filePath, line: UInt = #line) throws -> SVGNode {
    let svg = make()
    XCTAssertEqual(svg, make(), "the same chart gave two different SVGs", file: file, line: line)
    let root = try parseSVG(svg, file: file, line: line)
    let image = try renderPNG(svg, file: file, line: line)
    XCTAssertEqual("\(image.width)", root.attributes["width"], file: file, line: line)
    XCTAssertEqual("\(image.height)", root.attributes["height"], file: file, line: line)
    XCTAssertEqual(image.alpha(0, 0), 255, "the background is not opaque", file: file, line: line)
    XCTAssertGreaterThan(image.inkFraction, minInk, "the rendered chart is (nearly) blank", file: file, line: line)
    for color in colors {
        XCTAssertGreaterThanOrEqual(image.count(color, tolerance: tolerance), minPixels, "too little \(color) drawn", file: file, line: line)
    }
    return root
}

/// The Okabe–Ito colours of the first series, as the charts use them.
let seriesColors = ["#0072B2", "#E69F00", "#009E73", "#D55E00"]
