/// One argument of a block's command, after quotes are removed, with the place in the
/// notebook where it starts (for error messages).
public struct CommandToken: Equatable, Sendable {
    /// The argument as the command receives it.
    public var text: String
    /// The 1-based line in the notebook file.
    public var line: Int
    /// The 1-based column (in characters) where the token starts on its line.
    public var column: Int

    /// A token `text` starting at `line`, `column`.
    public init(text: String, line: Int, column: Int) {
        self.text = text
        self.line = line
        self.column = column
    }
}
