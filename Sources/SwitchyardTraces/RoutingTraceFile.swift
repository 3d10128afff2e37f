import SwitchyardFileIO
import Foundation

/// Switchyard's native binary trace format, `.sytrace` (optionally gzip-compressed as
/// `.sytrace.gz`). The byte layout is specified in `docs/trace-format.md`:
///
/// ```text
/// 0        8 bytes   magic 89 53 59 54 52 41 43 45 ("\x89SYTRACE")
/// 8        UInt32    format version (1; 2 with domains or shared-expert gates)
/// 12       UInt32    M, length of the metadata block
/// 16       M bytes   metadata, UTF-8 JSON (counts, class names, which arrays follow)
/// 16+M     0–7 zero bytes, so that the arrays start at a multiple of 8
/// D        arrays    little-endian Int32 / Float32, in the order the metadata lists
/// end−4    UInt32    CRC-32 (zlib / IEEE) of every byte before it
/// ```
///
/// The reader checks the header, the sizes the metadata claims against the real file
/// size (before allocating anything), the checksum and then every invariant of
/// ``RoutingTrace``; anything wrong is an `InputError` naming the file and byte offset.
public enum RoutingTraceFile {
    /// The eight bytes every `.sytrace` file starts with: 0x89 then "SYTRACE". The high
    /// first byte catches transfers that strip the eighth bit.
    public static let magic: [UInt8] = [0x89, 0x53, 0x59, 0x54, 0x52, 0x41, 0x43, 0x45]
    /// The format version this build writes for traces without domains or shared-expert gates,
    /// the versions before it reading them unchanged.
    public static let version: UInt32 = 1
    /// The format version of traces with domains or shared-expert gates (their arrays follow
    /// the others'; a reader of version 1 refuses the file by its version, not by its size).
    /// This build reads both.
    public static let newestVersion: UInt32 = 2
    /// The largest metadata block accepted (64 MiB); real ones are a few kilobytes.
    public static let maximumMetadataLength = 1 << 26
    /// The value of the metadata's `format` field.
    static let formatName = "switchyard-trace"
    /// Bytes before the metadata block: magic, version, metadata length.
    static let fixedHeaderLength = 16
    /// Bytes of the trailing checksum.
    static let checksumLength = 4

    // MARK: Metadata block

    /// The JSON metadata block.
    struct Header: Codable, Equatable {
        var format: String
        var expertCount: Int
        var tokenCount: Int
        var classCount: Int
        var classNames: [String]
        var metadata: [String: String]
        var labels: Bool
        var positions: Bool
        var layers: [LayerHeader]
        /// The trace's routing groups (token counts); absent when unknown. Older readers
        /// ignore the key, so files with it stay readable by them.
        var routingGroups: [Int]?
        /// Version 2: whether the per-token domain array is present, and the domains' names.
        var domains: Bool?
        var domainNames: [String]?
    }

    /// One layer's entry in the metadata block.
    struct LayerHeader: Codable, Equatable {
        var layer: Int
        var assignments: Int
        var capacity: Int?
        var topProbability: Bool
        var routerEntropy: Bool
        var probabilities: Bool
        var preferredExpert: Bool
        /// Version 2: whether the layer's shared-expert gates are present.
        var sharedGate: Bool?
    }

    /// Where one array lies in the file, for error messages.
    struct ArrayPlacement {
        var layerIndex: Int?
        var field: String
        var byteOffset: Int
        var count: Int
    }

    // MARK: Writing

    /// Writes `trace` to `path` atomically, gzip-compressed when `path` ends in `.gz`.
    /// Throws an `InputError` naming `path` when the trace breaks an invariant
    /// (``RoutingTrace/validate(file:)``), so that no invalid file is ever written.
    public static func write(_ trace: RoutingTrace, to path: String) throws {
        try trace.validate(file: path)
        var bytes = try encodeValidated(trace)
        if path.lowercased().hasSuffix(".gz") {
            bytes = try GzipFile.compress(bytes)
        }
        try AtomicFile.write(bytes, to: path)
    }

    /// The bytes of `trace` as an uncompressed `.sytrace` file (after validating it).
    public static func encode(_ trace: RoutingTrace) throws -> [UInt8] {
        try trace.validate()
        return try encodeValidated(trace)
    }

    /// Encodes a trace that has passed validation.
    static func encodeValidated(_ trace: RoutingTrace) throws -> [UInt8] {
        let header = Header(
            format: formatName, expertCount: trace.expertCount, tokenCount: trace.tokenCount,
            classCount: trace.classCount, classNames: trace.classNames, metadata: trace.metadata,
            labels: trace.labels != nil, positions: trace.positions != nil,
            layers: trace.layers.map {
                LayerHeader(layer: $0.layer, assignments: $0.experts.count, capacity: $0.capacity,
                            topProbability: $0.topProbability != nil, routerEntropy: $0.routerEntropy != nil,
                            probabilities: $0.probabilities != nil, preferredExpert: $0.preferredExpert != nil,
                            sharedGate: $0.sharedGate != nil ? true : nil)
            },
            routingGroups: trace.routingGroups, domains: trace.domains != nil ? true : nil,
            domainNames: trace.domainNames.isEmpty ? nil : trace.domainNames)
        let fileVersion = header.domains == true || header.layers.contains { $0.sharedGate == true } ? newestVersion : version
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: [UInt8]
        do {
            json = Array(try encoder.encode(header))
        } catch {
            throw InputError(message: "cannot encode the trace metadata as JSON (\(error))")
        }
        guard json.count <= maximumMetadataLength else {
            throw InputError(location: "metadata",
                             message: "\(json.count) bytes of metadata exceed the \(maximumMetadataLength)-byte limit")
        }
        let dataStart = align8(fixedHeaderLength + json.count)
        var arrayBytes = 0
        if trace.labels != nil { arrayBytes += 4 * trace.tokenCount }
        if trace.positions != nil { arrayBytes += 4 * trace.tokenCount }
        if trace.domains != nil { arrayBytes += 4 * trace.tokenCount }
        for layer in trace.layers {
            arrayBytes += 4 * (layer.offsets.count + layer.experts.count + layer.weights.count)
            arrayBytes += 4 * ((layer.topProbability?.count ?? 0) + (layer.routerEntropy?.count ?? 0)
                + (layer.probabilities?.count ?? 0) + (layer.preferredExpert?.count ?? 0) + (layer.sharedGate?.count ?? 0))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(dataStart + arrayBytes + checksumLength)
        bytes.append(contentsOf: magic)
        ByteCoding.append(fileVersion, to: &bytes)
        ByteCoding.append(UInt32(json.count), to: &bytes)
        bytes.append(contentsOf: json)
        bytes.append(contentsOf: repeatElement(0, count: dataStart - bytes.count))
        if let labels = trace.labels { ByteCoding.appendArray(labels, to: &bytes) }
        if let positions = trace.positions { ByteCoding.appendArray(positions, to: &bytes) }
        if let domains = trace.domains { ByteCoding.appendArray(domains, to: &bytes) }
        for layer in trace.layers {
            ByteCoding.appendArray(layer.offsets, to: &bytes)
            ByteCoding.appendArray(layer.experts, to: &bytes)
            ByteCoding.appendArray(layer.weights, to: &bytes)
            if let a = layer.topProbability { ByteCoding.appendArray(a, to: &bytes) }
            if let a = layer.routerEntropy { ByteCoding.appendArray(a, to: &bytes) }
            if let a = layer.probabilities { ByteCoding.appendArray(a, to: &bytes) }
            if let a = layer.preferredExpert { ByteCoding.appendArray(a, to: &bytes) }
            if let a = layer.sharedGate { ByteCoding.appendArray(a, to: &bytes) }
        }
        ByteCoding.append(crc32Checksum(bytes), to: &bytes)
        return bytes
    }

    // MARK: Reading

    /// Reads a `.sytrace` file, gzip-compressed or not (detected from its first bytes).
    /// Throws an `InputError` naming `path` and the byte offset for a file that is
    /// truncated, corrupt (checksum), of another format or version, whose metadata claims
    /// more data than the file holds, or whose contents break an invariant of the trace.
    public static func read(_ path: String) throws -> RoutingTrace {
        if GzipFile.isGzip(path) {
            let bytes = try GzipFile.read(path)
            return try decode(bytes, file: path)
        }
        let data = try readRaw(path)
        return try data.withUnsafeBytes { try decode(buffer: $0, file: path) }
    }

    /// Decodes the bytes of an uncompressed `.sytrace` file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> RoutingTrace {
        try bytes.withUnsafeBytes { try decode(buffer: $0, file: file) }
    }

    /// The contents of a file, memory-mapped where the platform allows.
    static func readRaw(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError(file: path, message: "no such file")
        }
        if isDirectory.boolValue { throw InputError(file: path, message: "is a directory, expected a .sytrace file") }
        try GzipReader.checkRegularFile(path)
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: [.mappedIfSafe])
        } catch {
            throw InputError(file: path, message: "cannot read (\(error.localizedDescription))")
        }
    }

    /// Decodes a `.sytrace` file held in `buffer`.
    static func decode(buffer: UnsafeRawBufferPointer, file: String) throws -> RoutingTrace {
        let size = buffer.count
        func fail(_ offset: Int, _ message: String) -> InputError {
            InputError(file: file, location: "byte \(offset)", message: message)
        }

        // Fixed header: magic, version, metadata length.
        for i in 0..<min(size, magic.count) where buffer[i] != magic[i] {
            throw fail(i, String(format: "found 0x%02x where the .sytrace magic has 0x%02x: not a Switchyard trace file",
                                 buffer[i], magic[i]))
        }
        let minimum = fixedHeaderLength + checksumLength
        if size < minimum {
            throw fail(size, "the file ends after \(size) bytes; a .sytrace file has at least \(minimum) (truncated)")
        }
        let version = ByteCoding.load(UInt32.self, from: buffer, at: 8)
        if version < RoutingTraceFile.version || version > RoutingTraceFile.newestVersion {
            throw fail(8, "format version \(version) is not supported (this Switchyard reads versions \(RoutingTraceFile.version)–\(RoutingTraceFile.newestVersion)\(version > RoutingTraceFile.newestVersion ? "; the file was written by a newer Switchyard" : ""))")
        }
        let metadataLength = Int(ByteCoding.load(UInt32.self, from: buffer, at: 12))
        if metadataLength > maximumMetadataLength {
            throw fail(12, "metadata length \(metadataLength) exceeds the \(maximumMetadataLength)-byte limit")
        }
        if fixedHeaderLength + metadataLength + checksumLength > size {
            throw fail(12, "metadata length \(metadataLength) runs past the end of the file (\(size) bytes): truncated or corrupt")
        }

        // Metadata.
        let header = try parseHeader(UnsafeRawBufferPointer(rebasing: buffer[fixedHeaderLength..<(fixedHeaderLength + metadataLength)]),
                                     file: file)
        let metadataLocation = "byte \(fixedHeaderLength) (metadata)"
        func badHeader(_ field: String, _ message: String) -> InputError {
            InputError(file: file, location: "\(metadataLocation), field \(field)", message: message)
        }
        if header.format != formatName {
            throw badHeader("format", "is \"\(header.format)\", expected \"\(formatName)\"")
        }
        if header.expertCount < 1 || header.expertCount > RoutingTrace.maximumExpertCount {
            throw badHeader("expertCount", "\(header.expertCount) is outside 1…\(RoutingTrace.maximumExpertCount)")
        }
        if header.tokenCount < 0 || header.tokenCount >= Int(Int32.max) {
            throw badHeader("tokenCount", "\(header.tokenCount) is outside 0…\(Int32.max - 1)")
        }
        for (i, layer) in header.layers.enumerated() where layer.assignments < 0 || layer.assignments > Int(Int32.max) {
            throw badHeader("layers[\(i)].assignments", "\(layer.assignments) is outside 0…\(Int32.max)")
        }
        if version < RoutingTraceFile.newestVersion {
            if header.domains != nil || header.domainNames != nil { throw badHeader("domains", "is a version 2 field in a version \(version) file") }
            if let i = header.layers.firstIndex(where: { $0.sharedGate != nil }) {
                throw badHeader("layers[\(i)].sharedGate", "is a version 2 field in a version \(version) file")
            }
        }

        // Sizes claimed by the metadata, checked against the real size before any
        // allocation. Every product is overflow-checked.
        var placements: [ArrayPlacement] = []
        var cursor = align8(fixedHeaderLength + metadataLength)
        var overflow = false
        func place(_ layerIndex: Int?, _ field: String, _ count: Int) {
            placements.append(ArrayPlacement(layerIndex: layerIndex, field: field, byteOffset: cursor, count: count))
            let (bytes, o1) = count.multipliedReportingOverflow(by: 4)
            let (next, o2) = cursor.addingReportingOverflow(bytes)
            if o1 || o2 { overflow = true } else { cursor = next }
        }
        let n = header.tokenCount
        if header.labels { place(nil, "labels", n) }
        if header.positions { place(nil, "positions", n) }
        if header.domains == true { place(nil, "domains", n) }
        for (i, layer) in header.layers.enumerated() {
            place(i, "offsets", n + 1)
            place(i, "experts", layer.assignments)
            place(i, "weights", layer.assignments)
            if layer.topProbability { place(i, "topProbability", n) }
            if layer.routerEntropy { place(i, "routerEntropy", n) }
            if layer.probabilities {
                let (count, o) = n.multipliedReportingOverflow(by: header.expertCount)
                if o { overflow = true } else { place(i, "probabilities", count) }
            }
            if layer.preferredExpert { place(i, "preferredExpert", n) }
            if layer.sharedGate == true { place(i, "sharedGate", n) }
        }
        let (expectedSize, o3) = cursor.addingReportingOverflow(checksumLength)
        if overflow || o3 || expectedSize > size {
            let claim = overflow || o3 ? "more bytes than can be addressed" : "\(expectedSize) bytes"
            throw fail(size, "the file ends after \(size) bytes but its metadata describes \(claim): truncated, or the metadata is corrupt")
        }
        if expectedSize < size {
            throw fail(expectedSize, "\(size - expectedSize) unexpected bytes after the checksum (the metadata describes \(expectedSize) bytes)")
        }

        // Checksum of everything before it.
        let stored = ByteCoding.load(UInt32.self, from: buffer, at: size - checksumLength)
        let computed = crc32Checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<(size - checksumLength)]))
        if stored != computed {
            throw fail(size - checksumLength,
                       String(format: "checksum mismatch (stored 0x%08x, computed 0x%08x): the file is corrupt", stored, computed))
        }
        for i in (fixedHeaderLength + metadataLength)..<align8(fixedHeaderLength + metadataLength) where buffer[i] != 0 {
            throw fail(i, "padding byte is 0x\(String(buffer[i], radix: 16)), expected 0")
        }

        // Arrays.
        var next = 0
        func int32s() -> [Int32] {
            defer { next += 1 }
            let p = placements[next]
            return ByteCoding.readArray(Int32.self, from: buffer, at: p.byteOffset, count: p.count)
        }
        func floats() -> [Float] {
            defer { next += 1 }
            let p = placements[next]
            return ByteCoding.readArray(Float.self, from: buffer, at: p.byteOffset, count: p.count)
        }
        let labels = header.labels ? int32s() : nil
        let positions = header.positions ? int32s() : nil
        let domains = header.domains == true ? int32s() : nil
        var layers: [LayerRouting] = []
        layers.reserveCapacity(header.layers.count)
        for layer in header.layers {
            let offsets = int32s()
            let experts = int32s()
            let weights = floats()
            var routing = LayerRouting(
                layer: layer.layer, offsets: offsets, experts: experts, weights: weights,
                topProbability: layer.topProbability ? floats() : nil,
                routerEntropy: layer.routerEntropy ? floats() : nil,
                probabilities: layer.probabilities ? floats() : nil,
                preferredExpert: layer.preferredExpert ? int32s() : nil,
                capacity: layer.capacity)
            if layer.sharedGate == true { routing.sharedGate = floats() }
            layers.append(routing)
        }
        var trace = RoutingTrace(
            expertCount: header.expertCount, tokenCount: header.tokenCount, labels: labels, positions: positions,
            classCount: header.classCount, classNames: header.classNames, layers: layers,
            routingGroups: header.routingGroups, metadata: header.metadata)
        trace.domains = domains
        trace.domainNames = header.domainNames ?? []

        if let v = trace.firstViolation() {
            let placement = placements.first { $0.layerIndex == v.layerIndex && $0.field == v.field }
            let location: String
            if let placement, let element = v.element {
                location = "byte \(placement.byteOffset + 4 * element) (\(v.location))"
            } else if let placement {
                location = "byte \(placement.byteOffset) (\(v.location))"
            } else {
                location = "\(metadataLocation), \(v.location)"
            }
            throw InputError(file: file, location: location, message: v.message)
        }
        return trace
    }

    /// Parses the JSON metadata block.
    static func parseHeader(_ json: UnsafeRawBufferPointer, file: String) throws -> Header {
        let location = "byte \(fixedHeaderLength) (metadata)"
        do {
            return try JSONDecoder().decode(Header.self, from: Data(json))
        } catch let error as DecodingError {
            throw InputError(file: file, location: location, message: describe(error))
        } catch {
            throw InputError(file: file, location: location, message: "metadata is not valid JSON (\(error))")
        }
    }

    /// A one-line account of a JSON decoding error.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the top level" : String(text.drop { $0 == "." })
        }
        switch error {
        case .dataCorrupted(let context):
            return "metadata is not valid JSON at \(path(context.codingPath)) (\(context.debugDescription))"
        case .keyNotFound(let key, let context):
            return "metadata lacks the field \(path(context.codingPath + [key]))"
        case .typeMismatch(let type, let context):
            return "metadata field \(path(context.codingPath)) is not of type \(type)"
        case .valueNotFound(let type, let context):
            return "metadata field \(path(context.codingPath)) is null, expected \(type)"
        @unknown default:
            return "metadata cannot be decoded (\(error))"
        }
    }

    /// `n` rounded up to a multiple of 8.
    static func align8(_ n: Int) -> Int { (n + 7) & ~7 }
}
