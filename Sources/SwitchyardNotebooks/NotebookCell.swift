/// One part of a markdown notebook, in file order: prose (everything that is not a
/// ```` ```switchyard ```` block, kept byte for byte) or a command block with its output.
public enum NotebookCell: Equatable, Sendable {
    /// Markdown text, including other fenced code blocks, exactly as in the file.
    case prose(String)
    /// A ```` ```switchyard ```` block and the output region that follows it, if any.
    case command(CommandBlock)
}
