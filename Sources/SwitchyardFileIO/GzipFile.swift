import CZlib
import Foundation

/// Reading and writing files that may be gzip-compressed, through zlib.
public enum GzipFile {
    /// The largest number of bytes ``read(_:limit:)`` returns by default: 2 GiB. The largest
    /// real inputs (a CIFAR-10 batch, the Fashion-MNIST training images, a trace CSV of ten
    /// million assignments) are well under it; a file that decompresses to more is corrupt
    /// or a gzip bomb (a few megabytes of gzip can claim gigabytes), and is refused before
    /// it exhausts memory.
    public static let defaultLimit = 1 << 31

    /// The whole contents of `path`, decompressed if it is gzip and as-is otherwise, read
    /// through ``GzipReader`` (so a gzip file must end with its verified trailer). Throws an
    /// `InputError` naming `path` if the file is missing, not a regular file, unreadable,
    /// truncated or corrupt gzip, or holds more than `limit` bytes (after decompression).
    public static func read(_ path: String, limit: Int = defaultLimit) throws -> [UInt8] {
        let reader = try GzipReader(path)
        // Chunks of 64 KiB to 1 MiB: small files do not pay for a large buffer.
        var status = stat()
        let fileSize = stat(path, &status) == 0 ? Int(status.st_size) : 0
        var chunk = [UInt8](repeating: 0, count: min(1 << 20, max(1 << 16, fileSize)))
        var result: [UInt8] = []
        if !reader.isGzip { result.reserveCapacity(min(fileSize, limit)) }
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            if n > limit - result.count {
                throw InputError(file: path, location: "byte \(limit) of the decompressed stream",
                                 message: "the contents exceed \(limit) bytes, the most Switchyard reads from one file: a corrupt file or a gzip bomb")
            }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// The first `count` bytes of `path` (fewer if it is shorter), decompressed if it is
    /// gzip, without reading further (so without checking a gzip file's end).
    public static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        let reader = try GzipReader(path)
        var head = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = try head.withUnsafeMutableBytes { try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
            if n == 0 { break }
            got += n
        }
        return Array(head[0..<got])
    }

    /// Whether the file at `path` is a regular file that starts with the gzip magic bytes 1f 8b.
    public static func isGzip(_ path: String) -> Bool {
        (try? GzipReader(path))?.isGzip ?? false
    }

    /// `bytes` gzip-compressed, as the contents of a `.gz` file.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16 selects the gzip wrapper.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw InputError(message: "zlib could not start a gzip stream")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
        var input = bytes
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw InputError(message: "zlib gzip compression failed (\(status))") }
        output.removeLast(Int(stream.avail_out))
        return output
    }
}
