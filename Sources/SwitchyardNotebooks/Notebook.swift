import SwitchyardFileIO
import Foundation

/// A markdown notebook: prose plus fenced ```` ```switchyard ```` blocks, each one Switchyard
/// subcommand, each optionally followed by the output region that the last run wrote.
///
/// ````markdown
/// The routers there are:
///
/// ```switchyard
/// routers
/// ```
///
/// <!-- switchyard:output -->
/// ```text
/// dense
/// …
/// ```
/// <!-- switchyard:end -->
/// ````
///
/// Parsing splits the text into ``cells``; ``text`` joins them again, so a notebook whose
/// outputs are not replaced renders to exactly the text it was read from. Other fences
/// (```` ```sh ````, ```` ```text ````, `~~~`) are prose and never interpreted.
public struct Notebook: Equatable, Sendable {
    /// The file the notebook was read from, as named in error messages.
    public var path: String
    /// The prose and command blocks, in file order.
    public var cells: [NotebookCell]

    /// Parses `text`; `path` names the file in error messages.
    ///
    /// Throws an ``InputError`` naming the file and line for an unclosed fence, an output
    /// marker that is not right after a block, a start marker without an end marker, an end
    /// marker without a start marker, or attributes on a ```` ```switchyard ```` fence.
    public init(text: String, path: String) throws {
        self.path = path
        // A UTF-8 byte order mark (as some Windows editors write) is kept as prose of its own,
        // so that the notebook renders to its text, and is not part of the first line.
        if text.unicodeScalars.first == "\u{FEFF}" {
            let rest = String(text.unicodeScalars.dropFirst())
            self.cells = try [.prose("\u{FEFF}")] + Notebook.parse(TextLines.split(rest), path: path)
        } else {
            self.cells = try Notebook.parse(TextLines.split(text), path: path)
        }
    }

    /// Reads and parses the notebook file at `path`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, message: FileManager.default.fileExists(atPath: path)
                             ? "cannot read the notebook" : "no such notebook file")
        }
        // String(validating:as:) keeps a byte order mark (String(data:encoding:) drops it).
        guard let text = String(validating: data, as: UTF8.self) else {
            throw InputError(file: path, message: "the notebook is not UTF-8 text")
        }
        try self.init(text: text, path: path)
    }

    /// The command blocks, in file order.
    public var commandBlocks: [CommandBlock] {
        cells.compactMap { if case .command(let block) = $0 { return block } else { return nil } }
    }

    /// The notebook as markdown: every cell's text joined, each block followed by its output
    /// region.
    public var text: String {
        var result = ""
        for cell in cells {
            switch cell {
            case .prose(let prose):
                result += prose
            case .command(let block):
                result += block.source
                if let output = block.output {
                    if !block.source.hasSuffix("\n") { result += "\n" }
                    result += output.source
                }
            }
        }
        return result
    }

    /// Replaces the output region of command block `index` (0-based, among the command
    /// blocks) with a new region holding `content`.
    public mutating func replaceOutput(ofBlock index: Int, with content: String) {
        var seen = 0
        for (i, cell) in cells.enumerated() {
            guard case .command(var block) = cell else { continue }
            if seen == index {
                block.output = OutputRegion(content: content)
                cells[i] = .command(block)
                return
            }
            seen += 1
        }
        preconditionFailure("the notebook has \(seen) command blocks, not \(index + 1)")
    }

    private static func parse(_ lines: [Substring], path: String) throws -> [NotebookCell] {
        var cells: [NotebookCell] = []
        var prose = ""
        var openFence: (fence: CodeFence, line: Int)?
        func error(_ line: Int, _ message: String) -> InputError {
            InputError(file: path, location: "line \(line)", message: message)
        }
        var i = 0
        while i < lines.count {
            let line = lines[i]
            let content = TextLines.content(line)
            if let (fence, _) = openFence {
                prose += line
                if fence.isClosed(by: content) { openFence = nil }
                i += 1
                continue
            }
            if let fence = CodeFence(opening: content) {
                guard fence.character == "`", fence.language == "switchyard" else {
                    openFence = (fence, i + 1)
                    prose += line
                    i += 1
                    continue
                }
                if !fence.attributes.isEmpty {
                    throw error(i + 1, "```switchyard takes no attributes, got '\(fence.attributes)'")
                }
                guard let close = (i + 1..<lines.count).first(where: { fence.isClosed(by: TextLines.content(lines[$0])) }) else {
                    throw error(i + 1, "the ```switchyard block opened here is never closed")
                }
                if !prose.isEmpty { cells.append(.prose(prose)); prose = "" }
                var block = CommandBlock(line: i + 1, source: lines[i...close].joined(),
                                         body: lines[(i + 1)..<close].map { String(TextLines.content($0)) })
                i = close + 1
                var start = i
                while start < lines.count, TextLines.content(lines[start]).trimmingWhitespace().isEmpty { start += 1 }
                if start < lines.count, TextLines.content(lines[start]).trimmingWhitespace() == OutputRegion.startMarker {
                    guard let end = (start + 1..<lines.count).first(where: {
                        TextLines.content(lines[$0]).trimmingWhitespace() == OutputRegion.endMarker
                    }) else {
                        throw error(start + 1, "the output marker \(OutputRegion.startMarker) has no \(OutputRegion.endMarker) after it")
                    }
                    block.output = OutputRegion(line: start + 1, source: lines[i...end].joined(),
                                                content: lines[(start + 1)..<end].joined())
                    i = end + 1
                }
                cells.append(.command(block))
                continue
            }
            switch content.trimmingWhitespace() {
            case OutputRegion.startMarker:
                throw error(i + 1, "the output marker \(OutputRegion.startMarker) is not right after a ```switchyard block")
            case OutputRegion.endMarker:
                throw error(i + 1, "\(OutputRegion.endMarker) without a ```switchyard block and \(OutputRegion.startMarker) before it")
            default:
                prose += line
                i += 1
            }
        }
        if let (fence, line) = openFence {
            throw error(line, "the \(String(repeating: fence.character, count: fence.length))\(fence.info) block opened here is never closed")
        }
        if !prose.isEmpty { cells.append(.prose(prose)) }
        return cells
    }
}
