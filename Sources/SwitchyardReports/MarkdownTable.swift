/// A GitHub-flavoured markdown table, built row by row.
///
/// ```swift
/// var table = MarkdownTable(["layer", "CV"], alignments: [.left, .right])
/// table.append(["0", "0.112"])
/// print(table.render())
/// ```
public struct MarkdownTable: Sendable {
    /// How a column's cells are aligned.
    public enum Alignment: Sendable { case left, right, center }

    /// The header cells.
    public var header: [String]
    /// One alignment per column (left when missing).
    public var alignments: [Alignment]
    /// The body rows.
    public private(set) var rows: [[String]] = []

    /// A table with these column headings; numbers read best right-aligned.
    public init(_ header: [String], alignments: [Alignment] = []) {
        self.header = header
        self.alignments = alignments
    }

    /// Appends a row (padded with empty cells or cut to the header's width).
    public mutating func append(_ row: [String]) {
        var cells = Array(row.prefix(header.count))
        while cells.count < header.count { cells.append("") }
        rows.append(cells)
    }

    /// The table as markdown lines, ending with a newline. Pipes inside cells are escaped.
    public func render() -> String {
        func line(_ cells: [String]) -> String {
            "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |"
        }
        let rule = header.indices.map { i -> String in
            switch i < alignments.count ? alignments[i] : .left {
            case .left: return "---"
            case .right: return "---:"
            case .center: return ":---:"
            }
        }
        return ([line(header), "| " + rule.joined(separator: " | ") + " |"] + rows.map(line))
            .joined(separator: "\n") + "\n"
    }
}
