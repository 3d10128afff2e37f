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

    /// The whole contents of `path`, decompressed if it is gzip and as-is otherwise
    /// (zlib's `gzread` passes uncompressed files through unchanged). Throws an
    /// `InputError` naming `path` if the file is missing, unreadable, corrupt gzip, or
    /// holds more than `limit` bytes (after decompression).
    public static func read(_ path: String, limit: Int = defaultLimit) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError(file: path, message: "no such file")
        }
        guard let handle = gzopen(path, "rb") else {
            throw InputError(file: path, message: "cannot open for reading")
        }
        defer { gzclose(handle) }
        // Chunks of 64 KiB to 1 MiB: small files do not pay for a large buffer.
        var status = stat()
        let fileSize = stat(path, &status) == 0 ? Int(status.st_size) : 0
        var chunk = [UInt8](repeating: 0, count: min(1 << 20, max(1 << 16, fileSize)))
        var result: [UInt8] = []
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(handle, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(handle, &code).map { String(cString: $0) } ?? "unknown zlib error"
                throw InputError(file: path, location: "byte \(result.count) of the decompressed stream",
                                 message: "corrupt gzip data (\(message))")
            }
            if n == 0 { break }
            if Int(n) > limit - result.count {
                throw InputError(file: path, location: "byte \(limit) of the decompressed stream",
                                 message: "the contents exceed \(limit) bytes, the most Switchyard reads from one file: a corrupt file or a gzip bomb")
            }
            result.append(contentsOf: chunk[0..<Int(n)])
        }
        return result
    }

    /// Whether the file at `path` starts with the gzip magic bytes 1f 8b.
    public static func isGzip(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let magic = (try? h.read(upToCount: 2)) ?? Data()
        return magic.count == 2 && magic[magic.startIndex] == 0x1f && magic[magic.startIndex + 1] == 0x8b
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
