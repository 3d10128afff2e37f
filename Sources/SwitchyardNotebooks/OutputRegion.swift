/// The output of a command block, written right after it between two HTML comment markers
/// so that the next run finds it and replaces it:
///
/// ```text
/// <!-- switchyard:output -->
/// …what the command printed…
/// <!-- switchyard:end -->
/// ```
public struct OutputRegion: Equatable, Sendable {
    /// The line that opens an output region.
    public static let startMarker = "<!-- switchyard:output -->"
    /// The line that closes an output region.
    public static let endMarker = "<!-- switchyard:end -->"

    /// The 1-based line of the start marker in the file it was read from (0 for a new region).
    public var line: Int
    /// The region verbatim: the blank lines before the start marker, the markers and what
    /// lies between them, line ends included.
    public var source: String
    /// The text between the markers, line ends included.
    public var content: String

    /// A region read from a file at `line`, with its verbatim `source` and inner `content`.
    public init(line: Int, source: String, content: String) {
        self.line = line
        self.source = source
        self.content = content
    }

    /// A new region holding `content`: one blank line, the start marker, `content` (given a
    /// final line end if it lacks one), the end marker.
    public init(content: String) {
        var inner = content
        if !inner.isEmpty, !inner.hasSuffix("\n") { inner += "\n" }
        self.line = 0
        self.content = inner
        self.source = "\n\(OutputRegion.startMarker)\n\(inner)\(OutputRegion.endMarker)\n"
    }

    /// Whether `line` (without its line end) is one of the two markers, ignoring surrounding
    /// whitespace.
    public static func isMarker(_ line: Substring) -> Bool {
        let trimmed = line.trimmingWhitespace()
        return trimmed == startMarker || trimmed == endMarker
    }
}
