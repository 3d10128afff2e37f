/// A fenced ```` ```switchyard ```` block of a notebook: one Switchyard subcommand, and the
/// output region that the last run wrote after it.
public struct CommandBlock: Equatable, Sendable {
    /// The 1-based line of the opening fence in the notebook file.
    public var line: Int
    /// The block from its opening fence through its closing fence, verbatim (line ends included).
    public var source: String
    /// The lines between the fences, without their line ends.
    public var body: [String]
    /// The output region after the block (from the last run), or nil if there is none yet.
    public var output: OutputRegion?

    /// A block starting at `line` whose verbatim text is `source` and whose body lines are `body`.
    public init(line: Int, source: String, body: [String], output: OutputRegion? = nil) {
        self.line = line
        self.source = source
        self.body = body
        self.output = output
    }

    /// The 1-based line of body line `index` (0-based) in the notebook file.
    public func lineNumber(ofBodyLine index: Int) -> Int { line + 1 + index }
}
