/// Accumulates a report's markdown and its chart files, so that every section links its
/// charts the same way (`charts/NAME.svg`, relative to the report).
struct ReportBuilder {
    private var blocks: [String] = []
    private var files: [ReportFile] = []
    /// The folder, relative to the report, that charts go to.
    let chartFolder = "charts"

    /// A `#`-heading of `level`.
    mutating func heading(_ level: Int, _ text: String) {
        blocks.append(String(repeating: "#", count: level) + " " + text)
    }

    /// A paragraph (skipped when empty).
    mutating func paragraph(_ text: String) {
        if !text.isEmpty { blocks.append(text) }
    }

    /// A bulleted list (skipped when empty).
    mutating func bullets(_ items: [String]) {
        if !items.isEmpty { blocks.append(items.map { "- " + $0 }.joined(separator: "\n")) }
    }

    /// A table.
    mutating func table(_ table: MarkdownTable) {
        blocks.append(table.render().trimmingSuffixNewline())
    }

    /// A fenced code block.
    mutating func code(_ text: String, language: String = "") {
        blocks.append("```\(language)\n\(text)\n```")
    }

    /// Saves `svg` as `charts/NAME.svg` and embeds it with `alt` text.
    mutating func chart(_ name: String, alt: String, svg: String) {
        let path = "\(chartFolder)/\(name).svg"
        files.append(ReportFile(name: path, contents: svg))
        blocks.append("![\(alt)](\(path))")
    }

    /// A collapsible block (GitHub renders `<details>`), for long tables.
    mutating func details(_ summary: String, _ body: (inout ReportBuilder) -> Void) {
        var inner = ReportBuilder()
        body(&inner)
        files += inner.files
        blocks.append("<details><summary>\(summary)</summary>\n\n" + inner.blocks.joined(separator: "\n\n") + "\n\n</details>")
    }

    /// The document built so far.
    var document: ReportDocument {
        ReportDocument(markdown: blocks.joined(separator: "\n\n") + "\n", files: files)
    }
}

extension String {
    func trimmingSuffixNewline() -> String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}
