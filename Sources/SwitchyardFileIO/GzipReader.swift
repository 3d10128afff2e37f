import CZlib
import Foundation

#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// A file read front to back in chunks, decompressed when it starts with the gzip magic
/// bytes 1f 8b and passed through unchanged otherwise: the one gzip reader of Switchyard
/// (``GzipFile/read(_:limit:)`` and the streamed CSV import use it).
///
/// A gzip file is accepted only when its stream ends properly: every member's trailer is
/// present and its CRC-32 and length (ISIZE) match the data (zlib checks both). Members
/// may follow each other (as `cat a.gz b.gz` makes them; their contents are joined), and
/// zero bytes after the last member are skipped, as gzip and Python's `gzip` module do.
/// Anything else is an `InputError` naming the file: a stream that stops early (a
/// truncated download or copy), a wrong checksum or length, or bytes after the end that
/// are not another member.
///
/// Only regular files are read: a FIFO, socket or device could block forever or never
/// end, so it is refused before anything is read (``openRegularFile(_:)``).
public final class GzipReader {
    /// The file being read.
    public let path: String
    /// Whether the file is gzip (else it is passed through).
    public private(set) var isGzip = false
    /// The bytes returned so far (decompressed).
    public private(set) var bytesRead = 0

    private let descriptor: Int32
    private let stream: UnsafeMutablePointer<z_stream>
    private var input: UnsafeMutableBufferPointer<UInt8>
    /// Compressed bytes in `input` not yet given to zlib start at `pending`, end at `filled`.
    private var pending = 0
    private var filled = 0
    private var fileEnded = false
    /// Inside a gzip member (between its header and its verified trailer).
    private var inMember = false
    private var finished = false
    private var inflating = false

    /// Opens `path` (a regular file) for reading; throws an `InputError` naming it if it
    /// is missing, not a regular file or unreadable.
    public init(_ path: String) throws {
        self.path = path
        descriptor = try GzipReader.openRegularFile(path)
        // 64 KiB to 1 MiB of compressed input at a time: small files need no large buffer.
        var status = stat()
        let size = fstat(descriptor, &status) == 0 ? Int(status.st_size) : 0
        input = .allocate(capacity: min(1 << 20, max(1 << 16, size)))
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // From here on a throw runs deinit, which closes and frees everything.
        try refill()
        // Up to two bytes decide whether the file is gzip.
        if filled == 1 && !fileEnded { try refill() }
        isGzip = filled >= 2 && input[0] == 0x1f && input[1] == 0x8b
        if isGzip {
            // windowBits 15 + 16: a gzip wrapper, whose trailer zlib verifies.
            guard inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw InputError(file: path, message: "zlib could not start decompressing")
            }
            inflating = true
            inMember = true
        }
    }

    deinit {
        if inflating { inflateEnd(stream) }
        stream.deallocate()
        input.deallocate()
        close(descriptor)
    }

    /// Reads up to `buffer.count` bytes into `buffer` and returns how many; 0 only at the
    /// end of the contents, after a gzip file's trailer has been verified.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0, !finished else { return 0 }
        var produced = 0
        if !isGzip {
            while produced < buffer.count {
                if pending == filled {
                    if fileEnded { break }
                    try refill()
                    continue
                }
                let n = min(buffer.count - produced, filled - pending)
                (base + produced).copyMemory(from: input.baseAddress! + pending, byteCount: n)
                pending += n
                produced += n
            }
            if produced == 0 { finished = true }
            bytesRead += produced
            return produced
        }
        while produced < buffer.count {
            if pending == filled && !fileEnded { try refill() }
            if !inMember {
                // Between members: skip zero padding; the file may end here or start another member.
                while pending < filled && input[pending] == 0 { pending += 1 }
                if pending == filled {
                    if fileEnded { finished = true; break }
                    continue
                }
                if filled - pending < 2 && !fileEnded { try refill(); continue }
                guard filled - pending >= 2 && input[pending] == 0x1f && input[pending + 1] == 0x8b else {
                    throw InputError(file: path, location: "byte \(bytesRead + produced) of the decompressed contents",
                                     message: "bytes follow the end of the gzip stream that are neither another gzip member nor zero padding (a damaged or wrongly joined file)")
                }
                guard inflateReset(stream) == Z_OK else {
                    throw InputError(file: path, message: "zlib could not start the next gzip member")
                }
                inMember = true
            }
            let before = pending
            stream.pointee.next_in = input.baseAddress! + pending
            stream.pointee.avail_in = UInt32(filled - pending)
            stream.pointee.next_out = (base + produced).assumingMemoryBound(to: UInt8.self)
            let room = UInt32(min(buffer.count - produced, Int(UInt32.max)))
            stream.pointee.avail_out = room
            let status = inflate(stream, Z_NO_FLUSH)
            pending = before + (filled - before - Int(stream.pointee.avail_in))
            produced += Int(room - stream.pointee.avail_out)
            switch status {
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress: zlib needs more input (read at the top of the loop), and
                // there is none when the file has ended inside the member.
                if pending < filled { throw corrupt(status, at: bytesRead + produced) }
                if fileEnded {
                    throw InputError(file: path, location: "byte \(bytesRead + produced) of the decompressed contents",
                                     message: "the gzip stream ends before its end marker and trailer (CRC-32 and length): the file is truncated")
                }
            case Z_STREAM_END:
                inMember = false
            default:
                throw corrupt(status, at: bytesRead + produced)
            }
        }
        bytesRead += produced
        return produced
    }

    /// The error for a zlib failure, in words a user can act on.
    private func corrupt(_ status: Int32, at offset: Int) -> InputError {
        let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
        let meaning: String
        switch detail {
        case "incorrect data check": meaning = "the CRC-32 in the gzip trailer does not match the data"
        case "incorrect length check": meaning = "the length in the gzip trailer does not match the data"
        default: meaning = "corrupt gzip data"
        }
        return InputError(file: path, location: "byte \(offset) of the decompressed contents",
                          message: "\(meaning) (\(detail)): the file is damaged")
    }

    /// Moves unread bytes to the front of the input buffer and reads more from the file.
    private func refill() throws {
        if pending > 0 {
            let left = filled - pending
            if left > 0 { input.baseAddress!.update(from: input.baseAddress! + pending, count: left) }
            filled = left
            pending = 0
        }
        guard filled < input.count else { return }
        while true {
            let n = systemRead(descriptor, input.baseAddress! + filled, input.count - filled)
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError(file: path, message: "read failed (\(String(cString: strerror(errno))))")
            }
            if n == 0 { fileEnded = true }
            filled += n
            return
        }
    }

    /// Opens `path` read-only after checking that it is a regular file, and returns its
    /// descriptor. A FIFO, socket or device is refused without blocking (opening a FIFO
    /// normally waits for a writer, and reading a device may never end).
    public static func openRegularFile(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if descriptor < 0 {
            let reason = errno == ENOENT ? "no such file" : "cannot open for reading (\(String(cString: strerror(errno))))"
            throw InputError(file: path, message: reason)
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw InputError(file: path, message: "cannot read its status (\(String(cString: strerror(errno))))")
        }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFREG else {
            close(descriptor)
            throw InputError(file: path, message: "is \(describe(kind)), not a regular file; Switchyard reads only regular files, which have an end (copy the data to a file first)")
        }
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK)
        return descriptor
    }

    /// Throws unless `path` is a regular file (see ``openRegularFile(_:)``).
    public static func checkRegularFile(_ path: String) throws {
        close(try openRegularFile(path))
    }

    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        default: return "a special file"
        }
    }
}
