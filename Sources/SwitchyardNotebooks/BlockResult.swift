/// What running one block's command gave: its exit status, what it printed, and how its
/// standard output is to be shown in the notebook.
public struct BlockResult: Equatable, Sendable {
    /// How a command's standard output goes into the notebook.
    public enum Format: Equatable, Sendable {
        /// Plain text, shown in a ```` ```text ```` fence.
        case text
        /// Markdown (tables, chart links), inserted as it is.
        case markdown
    }

    /// The exit status; anything but 0 stops the run.
    public var status: Int32
    /// Standard output.
    public var output: String
    /// Standard error (quoted in the error when the command fails; otherwise not shown).
    public var errors: String
    /// How ``output`` goes into the notebook.
    public var format: Format

    /// A result with exit status `status`, standard output `output` and standard error `errors`.
    public init(status: Int32 = 0, output: String, errors: String = "", format: Format = .text) {
        self.status = status
        self.output = output
        self.errors = errors
        self.format = format
    }

    /// The text between an output region's markers: markdown as it is, text inside a
    /// ```` ```text ```` fence longer than any backtick fence in the text; nothing for empty
    /// output. Trailing blank lines are dropped, and the result ends with a line end.
    public var regionContent: String {
        var body = Substring(output)
        while let last = body.last, last == "\n" || last == "\r\n" || last == " " { body = body.dropLast() }
        guard !body.isEmpty else { return "" }
        switch format {
        case .markdown:
            return body + "\n"
        case .text:
            let longest = TextLines.split(String(body)).map { line in
                TextLines.content(line).trimmingWhitespace().prefix { $0 == "`" }.count
            }.max() ?? 0
            let fence = String(repeating: "`", count: max(3, longest + 1))
            return "\(fence)text\n\(body)\n\(fence)\n"
        }
    }
}
