import SwitchyardFileIO

/// The text of a CSV file, handed out in chunks that each end at the end of a line, so
/// that a parser never holds more than one chunk of a file (plus what it builds from it).
/// The text is either in memory or read from a file (gzip or plain) through
/// ``GzipReader``; a file can be read more than once, one pass per call.
enum CSVText {
    /// Text already in memory: one chunk.
    case bytes(UnsafeBufferPointer<UInt8>)
    /// A file, read in chunks of `chunkSize` bytes (the longest line it may have).
    case file(String, chunkSize: Int)

    /// The size of a file's chunks by default, and so the longest line a file may have: 8 MiB.
    static let chunkSize = 1 << 23

    /// Calls `body` with consecutive chunks of the text, in order, each ending at a line
    /// end (`\n`, or `\r` when the text has no `\n`) except possibly the last. Returns the
    /// number of bytes and, for a file, the CRC-32 of the text, so that passes can check
    /// that they read the same text.
    @discardableResult
    func forEachChunk(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> (count: Int, crc: UInt32) {
        switch self {
        case .bytes(let buffer):
            try body(buffer)
            return (buffer.count, 0)
        case .file(let path, let chunkSize):
            let reader = try GzipReader(path)
            // Small files get a small buffer: it starts at 64 KiB and doubles whenever it
            // fills, up to chunkSize.
            var buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: min(chunkSize, 1 << 16))
            defer { buffer.deallocate() }
            var filled = 0, total = 0
            var crc: UInt32 = 0
            var ended = false
            while !ended || filled > 0 {
                if !ended && filled == buffer.count && buffer.count < chunkSize {
                    let larger = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: min(chunkSize, 2 * buffer.count))
                    larger.baseAddress!.initialize(from: buffer.baseAddress!, count: filled)
                    buffer.deallocate()
                    buffer = larger
                }
                let base = buffer.baseAddress!
                if !ended && filled < buffer.count {
                    let n = try reader.read(into: UnsafeMutableRawBufferPointer(start: base + filled, count: buffer.count - filled))
                    if n == 0 { ended = true }
                    crc = crc32Checksum(UnsafeRawBufferPointer(start: base + filled, count: n), startingWith: crc)
                    filled += n
                    total += n
                    if !ended && filled < buffer.count { continue }
                }
                if !ended && buffer.count < chunkSize { continue }
                var cut = filled
                if !ended {
                    cut = CSVText.lineEnd(in: UnsafeBufferPointer(start: base, count: filled))
                    guard cut > 0 else {
                        throw InputError(file: path, location: "byte \(total - filled) of the text",
                                         message: "a line longer than \(chunkSize) bytes; a trace CSV's rows are short (is this a CSV file?)")
                    }
                }
                try body(UnsafeBufferPointer(start: base, count: cut))
                if cut < filled { base.update(from: base + cut, count: filled - cut) }
                filled -= cut
            }
            return (total, crc)
        }
    }

    /// The length of the longest prefix of `text` that ends at a line end, or 0 if none:
    /// after the last `\n`, else after the last `\r` that is not the final byte (which may
    /// be the first half of `\r\n`).
    static func lineEnd(in text: UnsafeBufferPointer<UInt8>) -> Int {
        var i = text.count
        while i > 0 {
            if text[i - 1] == 0x0A { return i }
            i -= 1
        }
        i = text.count - 1
        while i > 0 {
            if text[i - 1] == 0x0D { return i }
            i -= 1
        }
        return 0
    }
}
