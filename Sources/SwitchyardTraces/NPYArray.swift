import SwitchyardFileIO
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `open(path, O_RDONLY)` (outside ``NPYArray``, whose own `open` would shadow the C call).
private func openForReading(_ path: String) -> Int32 { open(path, O_RDONLY) }

/// A NumPy `.npy` array (format versions 1.0, 2.0 and 3.0) of little-endian 32- or
/// 64-bit integers or floats in C order, as `np.save` writes them. The reader checks the
/// header and that the data is exactly as long as the shape says, before allocating
/// anything; every problem is an `InputError` naming the file and byte offset.
///
/// Format: `\x93NUMPY`, major and minor version bytes, the header length (UInt16 LE for
/// version 1, UInt32 LE for 2 and 3), then a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (128, 2), }`, then the data.
public struct NPYArray: Sendable {
    /// The element types Switchyard reads.
    public enum DType: String, Sendable {
        /// `<i4`, numpy int32.
        case int32 = "<i4"
        /// `<i8`, numpy int64 (what PyTorch's `topk` indices become).
        case int64 = "<i8"
        /// `<f4`, numpy float32.
        case float32 = "<f4"
        /// `<f8`, numpy float64.
        case float64 = "<f8"

        /// Bytes per element.
        public var size: Int { self == .int32 || self == .float32 ? 4 : 8 }
        /// Whether the elements are integers.
        public var isInteger: Bool { self == .int32 || self == .int64 }
        /// numpy's name for the type, for messages.
        public var numpyName: String {
            switch self {
            case .int32: return "int32"
            case .int64: return "int64"
            case .float32: return "float32"
            case .float64: return "float64"
            }
        }
    }

    /// The file the array was read from, for messages.
    public var file: String
    /// The dimensions, outermost first (C order).
    public var shape: [Int]
    /// The element type.
    public var dtype: DType
    /// The whole file; the data starts at ``dataOffset``. Empty when the data is read from
    /// ``streamPath`` as needed.
    var storage: [UInt8]
    /// The uncompressed file whose data is read in chunks (``open(_:)``), or nil.
    var streamPath: String? = nil
    /// The byte offset of the first element in the file.
    public var dataOffset: Int

    /// The number of elements (the product of ``shape``; 1 for a 0-d array).
    public var count: Int { shape.reduce(1, *) }

    /// Reads the `.npy` file at `path` (gzip-compressed files are accepted too).
    public static func read(_ path: String) throws -> NPYArray {
        try parse(try GzipFile.read(path), file: path)
    }

    /// Opens the `.npy` file at `path` for reading in chunks: only the header is read, and the
    /// file's size is checked against the shape. A gzip-compressed file, which cannot be read
    /// at an offset, is read whole (``read(_:)``).
    public static func open(_ path: String) throws -> NPYArray {
        if GzipFile.isGzip(path) { return try read(path) }
        var status = stat()
        guard stat(path, &status) == 0 else { return try read(path) }
        let fileSize = Int(status.st_size)
        let preamble = try GzipFile.readPrefix(path, count: 12)
        // The header's end from the preamble; a short or foreign preamble is left to `parse`.
        var headerEnd = preamble.count
        if preamble.count >= 10, preamble[6] == 1 {
            headerEnd = 10 + (Int(preamble[8]) | Int(preamble[9]) << 8)
        } else if preamble.count >= 12 {
            headerEnd = 12 + (Int(preamble[8]) | Int(preamble[9]) << 8 | Int(preamble[10]) << 16 | Int(preamble[11]) << 24)
        }
        let prefix = try GzipFile.readPrefix(path, count: min(fileSize, max(12, headerEnd)))
        var array = try parse(prefix, fileSize: fileSize, file: path)
        array.streamPath = path
        return array
    }

    /// Parses the bytes of a `.npy` file; `file` names it in errors.
    public static func parse(_ bytes: [UInt8], file: String) throws -> NPYArray {
        var array = try parse(bytes, fileSize: bytes.count, file: file)
        array.storage = bytes
        return array
    }

    /// Parses the header at the start of `bytes`, checking the data's length against
    /// `fileSize`; the result holds no data.
    private static func parse(_ bytes: [UInt8], fileSize: Int, file: String) throws -> NPYArray {
        func fail(_ offset: Int, _ message: String) -> InputError {
            InputError(file: file, location: "byte \(offset)", message: message)
        }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        for i in 0..<min(bytes.count, magic.count) where bytes[i] != magic[i] {
            throw fail(i, String(format: "found 0x%02x where the .npy magic \\x93NUMPY has 0x%02x: not a NumPy .npy file",
                                 bytes[i], magic[i]))
        }
        if bytes.count < 10 {
            throw fail(bytes.count, "the file ends after \(bytes.count) bytes, inside the .npy preamble (truncated)")
        }
        let major = bytes[6]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            if bytes.count < 12 {
                throw fail(bytes.count, "the file ends after \(bytes.count) bytes, inside the .npy preamble (truncated)")
            }
            headerStart = 12
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default:
            throw fail(6, "format version \(major).\(bytes[7]) is not supported (1.0, 2.0 and 3.0 are)")
        }
        if headerLength > bytes.count - headerStart {
            throw fail(8, "header length \(headerLength) runs past the end of the file (\(fileSize) bytes): truncated or corrupt")
        }
        let dataOffset = headerStart + headerLength
        var parser = HeaderParser(bytes: bytes, position: headerStart, end: dataOffset, file: file)
        let dict = try parser.parseDict()

        guard let descrValue = dict["descr"] else { throw fail(headerStart, "the header has no 'descr' (element type)") }
        guard case .string(let descr) = descrValue else {
            throw fail(headerStart, "'descr' is a structured type; only plain int32, int64, float32 and float64 arrays are read")
        }
        guard let dtype = DType(rawValue: descr) else {
            if descr.hasPrefix(">") {
                throw fail(headerStart, "element type '\(descr)' is big-endian; save a little-endian array (a.astype('<\(descr.dropFirst())'))")
            }
            throw fail(headerStart, "element type '\(descr)' is not supported; save as int32, int64, float32 or float64 (e.g. a.astype(np.int64))")
        }
        guard case .bool(let fortranOrder)? = dict["fortran_order"] else {
            throw fail(headerStart, "the header has no boolean 'fortran_order'")
        }
        if fortranOrder {
            throw fail(headerStart, "fortran_order is True; save a C-ordered array (np.save(path, np.ascontiguousarray(a)))")
        }
        guard case .tuple(let shape)? = dict["shape"] else {
            throw fail(headerStart, "the header has no 'shape' tuple")
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { throw fail(headerStart, "shape \(shape) has more elements than can be addressed") }
            count = product
        }
        let (dataBytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        let available = fileSize - dataOffset
        if overflow || dataBytes > available {
            throw fail(fileSize, "shape \(shape) of \(dtype.numpyName) needs \(overflow ? "more than addressable" : String(dataBytes)) data bytes from byte \(dataOffset), but the file ends after \(available): truncated, or the header is corrupt")
        }
        if dataBytes < available {
            throw fail(dataOffset + dataBytes, "\(available - dataBytes) unexpected bytes after the \(dataBytes) data bytes of shape \(shape)")
        }
        return NPYArray(file: file, shape: shape, dtype: dtype, storage: [], dataOffset: dataOffset)
    }

    /// "[2, 5, 1] (byte 1234)": the multi-index and file position of element `flat`.
    public func describeElement(_ flat: Int) -> String {
        var index = [Int](repeating: 0, count: shape.count)
        var rest = flat
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return "element [\(index.map(String.init).joined(separator: ", "))] (byte \(dataOffset + flat * dtype.size))"
    }

    /// The elements as `Int` (from int32 or int64); throws for float arrays, naming `role`.
    public func integers(role: String) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(count)
        try forEachIntegerChunk(0..<count, role: role) { _, values in out.append(contentsOf: values) }
        return out
    }

    /// The elements as `Float` (float64 rounded to nearest); throws for integer arrays,
    /// naming `role`.
    public func floats(role: String) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(count)
        try forEachFloatChunk(0..<count, role: role) { _, values in out.append(contentsOf: values) }
        return out
    }

    /// Calls `body` with the elements `range` as `Int` (from int32 or int64), in consecutive
    /// chunks of at most `chunk`, each with the flat index of its first element; throws for
    /// float arrays, naming `role`.
    public func forEachIntegerChunk(_ range: Range<Int>, role: String, chunk: Int = 1 << 16,
                                    _ body: (Int, UnsafeBufferPointer<Int>) throws -> Void) throws {
        guard dtype.isInteger else {
            throw InputError(file: file, message: "\(role) must be integers, found \(dtype.numpyName) (save with a.astype(np.int64))")
        }
        let wide = dtype == .int64
        try forEachDecodedChunk(range, chunk: chunk, zero: 0, body) { raw, i in
            wide ? Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                : Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        }
    }

    /// Calls `body` with the elements `range` as `Float` (float64 rounded to nearest), in
    /// consecutive chunks of at most `chunk`, each with the flat index of its first element;
    /// throws for integer arrays, naming `role`.
    public func forEachFloatChunk(_ range: Range<Int>, role: String, chunk: Int = 1 << 16,
                                  _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        guard !dtype.isInteger else {
            throw InputError(file: file, message: "\(role) must be floating point, found \(dtype.numpyName) (save with a.astype(np.float32))")
        }
        let wide = dtype == .float64
        try forEachDecodedChunk(range, chunk: chunk, zero: 0, body) { raw, i in
            wide ? Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                : Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    /// ``forEachChunk(_:chunk:_:)`` with each chunk's elements decoded by `decode(raw, i)` into
    /// one reused buffer.
    @inline(__always)
    private func forEachDecodedChunk<T>(_ range: Range<Int>, chunk: Int, zero: T,
                                        _ body: (Int, UnsafeBufferPointer<T>) throws -> Void,
                                        decode: (UnsafeRawBufferPointer, Int) -> T) throws {
        var values = [T](repeating: zero, count: min(chunk, max(range.count, 1)))
        try forEachChunk(range, chunk: chunk) { first, raw in
            let m = raw.count / dtype.size
            values.withUnsafeMutableBufferPointer { out in
                for i in 0..<m { out[i] = decode(raw, i) }
            }
            try values.withUnsafeBufferPointer { try body(first, UnsafeBufferPointer(rebasing: $0[0..<m])) }
        }
    }

    /// Calls `body` with the raw little-endian bytes of the elements `range`, in consecutive
    /// chunks of at most `chunk` elements, each with the flat index of its first element:
    /// from memory, or read from ``streamPath`` (`pread`) into one reused buffer.
    func forEachChunk(_ range: Range<Int>, chunk: Int, _ body: (Int, UnsafeRawBufferPointer) throws -> Void) throws {
        let size = dtype.size
        guard let path = streamPath else {
            try storage.withUnsafeBytes { raw in
                var i = range.lowerBound
                while i < range.upperBound {
                    let m = min(chunk, range.upperBound - i)
                    let start = dataOffset + i * size
                    try body(i, UnsafeRawBufferPointer(rebasing: raw[start..<(start + m * size)]))
                    i += m
                }
            }
            return
        }
        let fd = openForReading(path)
        guard fd >= 0 else {
            throw InputError(file: path, message: "cannot be opened: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: min(chunk, max(range.count, 1)) * size)
        var i = range.lowerBound
        while i < range.upperBound {
            let m = min(chunk, range.upperBound - i), want = m * size
            try buffer.withUnsafeMutableBytes { out in
                var got = 0
                while got < want {
                    let offset = dataOffset + i * size + got
                    let r = pread(fd, out.baseAddress! + got, want - got, off_t(offset))
                    guard r > 0 else {
                        throw InputError(file: path, location: "byte \(offset)",
                                         message: "cannot be read (\(r < 0 ? String(cString: strerror(errno)) : "the file ended early: it changed while being read"))")
                    }
                    got += r
                }
            }
            try buffer.withUnsafeBytes { try body(i, UnsafeRawBufferPointer(rebasing: $0[0..<want])) }
            i += m
        }
    }

    /// A value of the header dict.
    enum HeaderValue: Equatable {
        case string(String)
        case bool(Bool)
        case tuple([Int])
        case other
    }

    /// A parser for the Python dict literal of a `.npy` header.
    struct HeaderParser {
        let bytes: [UInt8]
        var position: Int
        let end: Int
        let file: String

        func fail(_ message: String) -> InputError {
            InputError(file: file, location: "byte \(position) (header)", message: message)
        }

        mutating func skipSpace() {
            while position < end, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func expect(_ c: UInt8) throws {
            skipSpace()
            guard position < end else { throw fail("the header ends early, expected '\(Character(Unicode.Scalar(c)))'") }
            guard bytes[position] == c else {
                throw fail("found '\(Character(Unicode.Scalar(bytes[position])))', expected '\(Character(Unicode.Scalar(c)))'")
            }
            position += 1
        }

        mutating func parseDict() throws -> [String: HeaderValue] {
            try expect(0x7B)  // {
            var result: [String: HeaderValue] = [:]
            while true {
                skipSpace()
                guard position < end else { throw fail("the header ends inside its dict") }
                if bytes[position] == 0x7D { position += 1; break }  // }
                let key = try parseString()
                try expect(0x3A)  // :
                result[key] = try parseValue()
                skipSpace()
                guard position < end else { throw fail("the header ends inside its dict") }
                if bytes[position] == 0x2C { position += 1; continue }  // ,
                if bytes[position] == 0x7D { position += 1; break }
                throw fail("found '\(Character(Unicode.Scalar(bytes[position])))', expected ',' or '}'")
            }
            return result
        }

        mutating func parseString() throws -> String {
            skipSpace()
            guard position < end, bytes[position] == 0x27 || bytes[position] == 0x22 else {
                throw fail("expected a quoted string")
            }
            let quote = bytes[position]
            position += 1
            let start = position
            while position < end && bytes[position] != quote {
                if bytes[position] == 0x5C { throw fail("escape sequences are not supported in the header") }
                position += 1
            }
            guard position < end else { throw fail("the header ends inside a string") }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            position += 1
            return text
        }

        mutating func parseValue() throws -> HeaderValue {
            skipSpace()
            guard position < end else { throw fail("the header ends where a value is expected") }
            switch bytes[position] {
            case 0x27, 0x22:
                return .string(try parseString())
            case 0x28:  // (
                position += 1
                var dims: [Int] = []
                while true {
                    skipSpace()
                    guard position < end else { throw fail("the header ends inside the shape") }
                    if bytes[position] == 0x29 { position += 1; break }  // )
                    dims.append(try parseDimension())
                    skipSpace()
                    guard position < end else { throw fail("the header ends inside the shape") }
                    if bytes[position] == 0x2C { position += 1; continue }
                    if bytes[position] == 0x29 { position += 1; break }
                    throw fail("found '\(Character(Unicode.Scalar(bytes[position])))' in the shape, expected ',' or ')'")
                }
                return .tuple(dims)
            case 0x5B:  // [ : a structured dtype; skip it to report it properly.
                var depth = 0
                repeat {
                    if bytes[position] == 0x5B { depth += 1 }
                    if bytes[position] == 0x5D { depth -= 1 }
                    position += 1
                } while position < end && depth > 0
                if depth > 0 { throw fail("the header ends inside a list") }
                return .other
            default:
                if matches("True") { position += 4; return .bool(true) }
                if matches("False") { position += 5; return .bool(false) }
                throw fail("unexpected value in the header; expected a string, True, False or a shape tuple")
            }
        }

        func matches(_ word: String) -> Bool {
            let w = Array(word.utf8)
            return position + w.count <= end && Array(bytes[position..<(position + w.count)]) == w
        }

        mutating func parseDimension() throws -> Int {
            let start = position
            var value = 0
            while position < end && bytes[position] >= 0x30 && bytes[position] <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int(bytes[position] - 0x30))
                if o1 || o2 { throw fail("shape dimension is too large") }
                value = a
                position += 1
            }
            if position == start { throw fail("expected a non-negative integer in the shape") }
            if position < end && bytes[position] == 0x4C { position += 1 }  // Python 2's 3L
            return value
        }
    }
}
