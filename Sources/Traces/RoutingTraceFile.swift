import FileIO
import Foundation

/// Switchyard's native trace file, `.sytrace` (see `docs/trace-format.md`):
///
/// | bytes | content |
/// |---|---|
/// | 8 | magic `SYTRACE` followed by a 0 byte |
/// | 4 | format version, UInt32 little-endian (1) |
/// | 8 | header length H, UInt64 LE |
/// | H | header, UTF-8 JSON (``Header``) |
/// | … | arrays, little-endian, back to back: labels (Int32 × n) and positions (Int32 × n) when present, then for each layer: offsets (Int32 × (n+1)), experts (Int32 × A), weights (Float32 × A), then when present top probability (Float32 × n), router entropy (Float32 × n), probabilities (Float32 × n·E), preferred expert (Int32 × n) |
/// | 4 | CRC-32 of every byte before it, UInt32 LE |
///
/// Files are written atomically; a name ending in `.gz` is gzip-compressed.
public enum RoutingTraceFile {
    static let magic: [UInt8] = Array("SYTRACE".utf8) + [0]
    static let version: UInt32 = 1

    /// The JSON header.
    public struct Header: Codable, Equatable {
        /// Experts per layer.
        public var expertCount: Int
        /// Tokens per layer.
        public var tokenCount: Int
        /// Classes of the labels.
        public var classCount: Int
        /// Class names.
        public var classNames: [String]
        /// Provenance.
        public var metadata: [String: String]
        /// Whether labels follow.
        public var hasLabels: Bool
        /// Whether positions follow.
        public var hasPositions: Bool
        /// One entry per layer.
        public var layers: [LayerHeader]
    }

    /// What a layer's arrays hold.
    public struct LayerHeader: Codable, Equatable {
        /// Block index.
        public var layer: Int
        /// Assignments A.
        public var assignmentCount: Int
        /// Expert capacity, if any.
        public var capacity: Int?
        /// Whether top probabilities follow.
        public var hasTopProbability: Bool
        /// Whether router entropies follow.
        public var hasRouterEntropy: Bool
        /// Whether full probabilities follow.
        public var hasProbabilities: Bool
        /// Whether preferred experts follow.
        public var hasPreferredExpert: Bool
    }

    /// Writes `trace` to `path` atomically (gzip when `path` ends in `.gz`).
    public static func write(_ trace: RoutingTrace, to path: String) throws {
        let header = Header(
            expertCount: trace.expertCount, tokenCount: trace.tokenCount, classCount: trace.classCount,
            classNames: trace.classNames, metadata: trace.metadata, hasLabels: trace.labels != nil,
            hasPositions: trace.positions != nil,
            layers: trace.layers.map {
                LayerHeader(layer: $0.layer, assignmentCount: $0.experts.count, capacity: $0.capacity,
                            hasTopProbability: $0.topProbability != nil, hasRouterEntropy: $0.routerEntropy != nil,
                            hasProbabilities: $0.probabilities != nil, hasPreferredExpert: $0.preferredExpert != nil)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let headerData = try encoder.encode(header)
        var bytes = magic
        append(version, to: &bytes)
        append(UInt64(headerData.count), to: &bytes)
        bytes.append(contentsOf: headerData)
        func put<T>(_ values: [T]?) { values?.withUnsafeBytes { bytes.append(contentsOf: $0) } }
        put(trace.labels)
        put(trace.positions)
        for layer in trace.layers {
            put(layer.offsets); put(layer.experts); put(layer.weights)
            put(layer.topProbability); put(layer.routerEntropy); put(layer.probabilities); put(layer.preferredExpert)
        }
        append(crc32Checksum(bytes), to: &bytes)
        if path.hasSuffix(".gz") {
            try AtomicFile.write(GzipFile.compress(bytes, level: 1), to: path)
        } else {
            try AtomicFile.write(bytes, to: path)
        }
    }

    /// Reads and validates a trace; every defect is an ``InputError`` naming the file and the
    /// byte offset or field, and no header value can make it allocate more than the file holds.
    public static func read(_ path: String) throws -> RoutingTrace {
        let bytes = try GzipFile.read(path)
        return try decode(bytes, file: path)
    }

    /// Decodes `.sytrace` bytes; `file` names the source in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> RoutingTrace {
        let fixed = magic.count + 4 + 8
        guard bytes.count >= fixed + 4 else {
            throw InputError(file: file, location: "byte 0", message: "\(bytes.count) bytes is too short for a .sytrace file")
        }
        guard Array(bytes[0..<magic.count]) == magic else {
            throw InputError(file: file, location: "byte 0", message: "not a Switchyard trace (magic bytes differ)")
        }
        let fileVersion: UInt32 = load(bytes, at: magic.count)
        guard fileVersion == version else {
            throw InputError(file: file, location: "byte \(magic.count)", message: "format version \(fileVersion); this Switchyard reads version \(version)")
        }
        let stored: UInt32 = load(bytes, at: bytes.count - 4)
        let computed = bytes[..<(bytes.count - 4)].withUnsafeBytes { crc32Checksum($0) }
        guard stored == computed else {
            throw InputError(file: file, location: "byte \(bytes.count - 4)",
                             message: "checksum mismatch (stored \(stored), computed \(computed)): the file is corrupt or truncated")
        }
        let headerLength: UInt64 = load(bytes, at: magic.count + 4)
        guard headerLength <= UInt64(bytes.count - fixed - 4) else {
            throw InputError(file: file, location: "byte \(magic.count + 4)", message: "header length \(headerLength) exceeds the file")
        }
        let headerEnd = fixed + Int(headerLength)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[fixed..<headerEnd]))
        } catch {
            throw InputError(file: file, location: "byte \(fixed)", message: "header is not valid trace JSON")
        }
        var reader = ArrayReader(bytes: bytes, offset: headerEnd, end: bytes.count - 4, file: file)
        let n = header.tokenCount, e = header.expertCount
        guard n >= 0, e >= 1, header.classCount >= 0 else {
            throw InputError(file: file, location: "header", message: "tokenCount \(n) / expertCount \(e) / classCount \(header.classCount) out of range")
        }
        let labels: [Int32]? = header.hasLabels ? try reader.array(count: n, name: "labels") : nil
        let positions: [Int32]? = header.hasPositions ? try reader.array(count: n, name: "positions") : nil
        var layers: [LayerRouting] = []
        for (i, l) in header.layers.enumerated() {
            let name = "layer \(i)"
            let offsets: [Int32] = try reader.array(count: n + 1, name: "\(name) offsets")
            let experts: [Int32] = try reader.array(count: l.assignmentCount, name: "\(name) experts")
            let weights: [Float] = try reader.array(count: l.assignmentCount, name: "\(name) weights")
            let top: [Float]? = l.hasTopProbability ? try reader.array(count: n, name: "\(name) top probability") : nil
            let entropy: [Float]? = l.hasRouterEntropy ? try reader.array(count: n, name: "\(name) router entropy") : nil
            let (ne, overflow) = n.multipliedReportingOverflow(by: e)
            if overflow { throw InputError(file: file, location: "header", message: "tokenCount × expertCount overflows") }
            let probabilities: [Float]? = l.hasProbabilities ? try reader.array(count: ne, name: "\(name) probabilities") : nil
            let preferred: [Int32]? = l.hasPreferredExpert ? try reader.array(count: n, name: "\(name) preferred expert") : nil
            layers.append(LayerRouting(layer: l.layer, offsets: offsets, experts: experts, weights: weights,
                                       topProbability: top, routerEntropy: entropy, probabilities: probabilities,
                                       preferredExpert: preferred, capacity: l.capacity))
        }
        guard reader.offset == reader.end else {
            throw InputError(file: file, location: "byte \(reader.offset)",
                             message: "\(reader.end - reader.offset) bytes after the last array; expected the checksum")
        }
        let trace = RoutingTrace(expertCount: e, tokenCount: n, labels: labels, positions: positions,
                                 classCount: header.classCount, classNames: header.classNames, layers: layers,
                                 metadata: header.metadata)
        try trace.validate(file: file)
        return trace
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func load<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// Reads arrays of 4-byte values from a byte buffer with bounds checks.
    struct ArrayReader {
        let bytes: [UInt8]
        var offset: Int
        let end: Int
        let file: String

        mutating func array<T>(count: Int, name: String) throws -> [T] {
            precondition(MemoryLayout<T>.stride == 4)
            guard count >= 0, count <= (end - offset) / 4 else {
                throw InputError(file: file, location: "byte \(offset)",
                                 message: "\(name): \(count) values do not fit in the \(max(end - offset, 0)) bytes left")
            }
            let start = offset
            offset += count * 4
            if count == 0 { return [] }
            return bytes.withUnsafeBytes { raw in
                [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw.baseAddress! + start, byteCount: count * 4)
                    initialized = count
                }
            }
        }
    }
}
