import SwitchyardFileIO

/// Splitting a block's command into arguments without a shell: whitespace separates
/// arguments, single quotes keep everything literally, double quotes keep everything but
/// `\"` and `\\` (a backslash before anything else stays a backslash), and a backslash at the
/// end of a line continues the command on the next line.
///
/// Shell syntax is refused rather than passed on as text: `| ; & > < ` $ ( )` and `*`, `?`
/// outside quotes, and `~` or `#` at the start of an argument, each with the line and column.
public enum CommandTokenizer {
    /// Characters that mean something to a shell and are refused outside quotes.
    public static let metacharacters: Set<Character> = ["|", ";", "&", ">", "<", "`", "$", "(", ")", "*", "?"]

    /// The tokens of one line of a block, and whether it ends with a continuation backslash.
    ///
    /// - Parameters:
    ///   - line: the line's text, without its line end.
    ///   - number: its 1-based line number in the notebook, for tokens and errors.
    ///   - file: the notebook file, for errors.
    public static func tokenize(line: String, number: Int, file: String?) throws -> (tokens: [CommandToken], continues: Bool) {
        let characters = Array(line)
        func error(_ index: Int, _ message: String) -> InputError {
            InputError(file: file, location: "line \(number), column \(index + 1)", message: message)
        }
        var tokens: [CommandToken] = []
        var current = ""
        var start: Int?
        var i = 0
        func finish() {
            if let s = start { tokens.append(CommandToken(text: current, line: number, column: s + 1)) }
            current = ""
            start = nil
        }
        while i < characters.count {
            let c = characters[i]
            switch c {
            case " ", "\t", "\r":
                finish()
                i += 1
            case "'":
                if start == nil { start = i }
                guard let close = characters[(i + 1)...].firstIndex(of: "'") else {
                    throw error(i, "this single quote is never closed on its line (quotes do not span lines)")
                }
                current += String(characters[(i + 1)..<close])
                i = close + 1
            case "\"":
                if start == nil { start = i }
                var j = i + 1
                var closed = false
                while j < characters.count {
                    let d = characters[j]
                    if d == "\"" { closed = true; break }
                    if d == "\\", j + 1 < characters.count, characters[j + 1] == "\"" || characters[j + 1] == "\\" {
                        current.append(characters[j + 1])
                        j += 2
                        continue
                    }
                    current.append(d)
                    j += 1
                }
                guard closed else {
                    throw error(i, "this double quote is never closed on its line (quotes do not span lines)")
                }
                i = j + 1
            case "\\":
                if characters[(i + 1)...].allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                    finish()
                    return (tokens, true)
                }
                throw error(i, "a backslash outside quotes is only allowed at the end of a line, to continue the command; quote the argument instead")
            case "~" where start == nil, "#" where start == nil:
                throw error(i, c == "#"
                    ? "'#' starts a comment only at the beginning of a line; quote it if it is part of an argument"
                    : "'~' is not expanded: notebooks run Switchyard subcommands, not a shell; give a path relative to the notebook's directory")
            case _ where metacharacters.contains(c):
                throw error(i, "'\(c)' is shell syntax: notebooks run Switchyard subcommands, not a shell (no pipes, redirections, variables, globs or command substitution); quote it if it is part of an argument")
            default:
                if start == nil { start = i }
                current.append(c)
                i += 1
            }
        }
        finish()
        return (tokens, false)
    }

    /// The arguments of `block`'s command: its lines without blank lines and `#` comment
    /// lines, continuation lines joined, and a leading `switchyard` dropped.
    ///
    /// Throws an ``InputError`` naming `file` and the line for shell syntax, a second command
    /// in the block, or a block without a command.
    public static func command(of block: CommandBlock, file: String?) throws -> [CommandToken] {
        var tokens: [CommandToken] = []
        var started = false
        var continuing = false
        for (index, text) in block.body.enumerated() {
            let number = block.lineNumber(ofBodyLine: index)
            let trimmed = text.trimmingWhitespace()
            if trimmed.isEmpty || trimmed == "\r" {
                continuing = false
                continue
            }
            if trimmed.hasPrefix("#") { continue }
            if started, !continuing {
                throw InputError(file: file, location: "line \(number)", message: """
                    a block holds one subcommand: continue a long command with a backslash at the end of \
                    the line, or start another ```switchyard block
                    """)
            }
            let (lineTokens, continues) = try tokenize(line: text, number: number, file: file)
            tokens += lineTokens
            started = started || !lineTokens.isEmpty || continues
            continuing = continues
        }
        if tokens.first?.text == "switchyard" { tokens.removeFirst() }
        if tokens.isEmpty {
            throw InputError(file: file, location: "line \(block.line)", message: "this ```switchyard block has no command; give one Switchyard subcommand, e.g. `routers`")
        }
        return tokens
    }
}
