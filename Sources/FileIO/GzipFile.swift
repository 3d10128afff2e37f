import CZlib
import Foundation

/// Reading and writing files that may be gzip-compressed, through zlib.
public enum GzipFile {
    /// The whole contents of `path`, decompressed if it is gzip and as-is otherwise
    /// (zlib's `gzread` passes uncompressed files through unchanged).
    public static func read(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError(file: path, message: "no such file")
        }
        guard let handle = gzopen(path, "rb") else {
            throw InputError(file: path, message: "cannot open for reading")
        }
        defer { gzclose(handle) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(handle, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(handle, &code).map { String(cString: $0) } ?? "unknown zlib error"
                throw InputError(file: path, location: "byte \(result.count) of the decompressed stream",
                                 message: "corrupt gzip data (\(message))")
            }
            if n == 0 { break }
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
