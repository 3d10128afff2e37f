/// A CommonMark code fence line: up to three spaces, then three or more backticks or
/// tildes, then an info string (for backticks, one without backticks).
struct CodeFence: Equatable {
    /// The fence character, "`" or "~".
    let character: Character
    /// How many fence characters open the block.
    let length: Int
    /// The info string after the fence characters, trimmed ("switchyard", "sh", "").
    let info: Substring

    /// The opening fence on `line` (without its line end), or nil if the line is not one.
    init?(opening line: Substring) {
        let characters = Array(line)
        var i = 0
        while i < characters.count, characters[i] == " " { i += 1 }
        guard i <= 3, i < characters.count, characters[i] == "`" || characters[i] == "~" else { return nil }
        let fence = characters[i]
        var length = 0
        while i < characters.count, characters[i] == fence { length += 1; i += 1 }
        guard length >= 3 else { return nil }
        let info = String(characters[i...]).trimmingWhitespace()
        if fence == "`", info.contains("`") { return nil }
        self.character = fence
        self.length = length
        self.info = info
    }

    /// Whether `line` (without its line end) closes a block opened by this fence: up to
    /// three spaces, at least as many of the same character, then only spaces or tabs.
    func isClosed(by line: Substring) -> Bool {
        let characters = Array(line)
        var i = 0
        while i < characters.count, characters[i] == " " { i += 1 }
        guard i <= 3 else { return false }
        var count = 0
        while i < characters.count, characters[i] == character { count += 1; i += 1 }
        guard count >= length else { return false }
        return characters[i...].allSatisfy { $0 == " " || $0 == "\t" }
    }

    /// The first word of the info string: the block's language.
    var language: Substring { info.prefix { $0 != " " && $0 != "\t" } }

    /// The info string after the language (attributes), trimmed.
    var attributes: Substring { info.dropFirst(language.count).trimmingWhitespace() }
}
