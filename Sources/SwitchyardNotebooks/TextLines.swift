/// Splitting text into lines that keep their line ends, so that text can be cut apart and
/// joined again byte for byte.
enum TextLines {
    /// The lines of `text`, each with its `\n` (the last one without, if the text does not end
    /// with a line end). `\r\n` stays inside a line.
    static func split(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        var start = text.startIndex
        let utf8 = text.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let next = utf8.index(after: index)
            if utf8[index] == UInt8(ascii: "\n") {
                lines.append(text[start..<next])
                start = next
            }
            index = next
        }
        if start != text.endIndex { lines.append(text[start...]) }
        return lines
    }

    /// `line` without its final `\n` or `\r\n`.
    static func content(_ line: Substring) -> Substring {
        var scalars = line.unicodeScalars
        if scalars.last == "\n" { scalars.removeLast() }
        if scalars.last == "\r" { scalars.removeLast() }
        return Substring(scalars)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> Substring {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = s.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        return s[first...last]
    }
}
