import SwitchyardFileIO
import Foundation

/// A training checkpoint: the run's configuration, where it stopped, the random generators'
/// states and named Float32 arrays (parameters and optimiser moments).
///
/// File layout (little-endian): the 8 magic bytes `SYCKPT\0\u{1}`; a UInt64 header length;
/// the header as JSON (``Header``); the arrays' floats back to back in header order; a UInt32
/// CRC-32 of everything before it. ``read(_:)`` verifies the checksum before trusting anything.
/// Checkpoints are written to a temporary file and renamed.
public struct Checkpoint {
    /// What the checkpoint says about itself.
    public struct Header: Codable, Equatable {
        /// The run's configuration.
        public var configuration: TrainingConfiguration
        /// Epochs completed.
        public var epoch: Int
        /// Optimisation steps completed.
        public var step: Int
        /// Saved generator states by name (see `SeededRNG.state`).
        public var generators: [String: [UInt64]]
        /// The arrays in file order: name and element count.
        public var arrays: [ArrayEntry]
        /// Free-form counters the trainer restores (wall time so far, …).
        public var counters: [String: Double]
    }

    /// A named array's name and element count.
    public struct ArrayEntry: Codable, Equatable {
        /// The array's name, e.g. `blocks.0.mlp.experts.1.fc1.weight` or `adam.m.<name>`.
        public var name: String
        /// Its number of Float32 elements.
        public var count: Int
    }

    static let magic: [UInt8] = Array("SYCKPT".utf8) + [0, 1]

    /// The header.
    public var header: Header
    /// The arrays, aligned with `header.arrays`.
    public var arrays: [[Float]]

    /// A checkpoint; `arrays` must match `header.arrays` in order and size.
    public init(header: Header, arrays: [[Float]]) {
        precondition(header.arrays.count == arrays.count && zip(header.arrays, arrays).allSatisfy { $0.count == $1.count },
                     "checkpoint arrays do not match the header")
        self.header = header
        self.arrays = arrays
    }

    /// The array called `name`, or nil.
    public func array(named name: String) -> [Float]? {
        header.arrays.firstIndex { $0.name == name }.map { arrays[$0] }
    }

    /// Writes the checkpoint to `path` atomically.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let headerData = try encoder.encode(header)
        var bytes = Checkpoint.magic
        bytes.reserveCapacity(16 + headerData.count + arrays.reduce(0) { $0 + $1.count * 4 } + 4)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: headerData)
        for values in arrays {
            values.withUnsafeBytes { bytes.append(contentsOf: $0) }   // x86_64 and arm64 are little-endian
        }
        let crc = crc32Checksum(bytes)
        withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
        try AtomicFile.write(bytes, to: path)
    }

    /// Reads and verifies a checkpoint; every defect is an ``InputError`` naming the file
    /// and byte offset.
    public static func read(_ path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, message: "cannot read the checkpoint (missing or unreadable)")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= magic.count + 8 + 4 else {
            throw InputError(file: path, location: "byte 0", message: "file of \(bytes.count) bytes is too short for a checkpoint")
        }
        guard Array(bytes[0..<magic.count]) == magic else {
            throw InputError(file: path, location: "byte 0", message: "not a Switchyard checkpoint (magic bytes differ)")
        }
        let stored = bytes[(bytes.count - 4)...].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        let computed = bytes[..<(bytes.count - 4)].withUnsafeBytes { crc32Checksum($0) }
        guard stored == computed else {
            throw InputError(file: path, location: "byte \(bytes.count - 4)",
                             message: "checksum mismatch (stored \(stored), computed \(computed)): the file is corrupt or truncated")
        }
        let headerLength = bytes[8..<16].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 20) else {
            throw InputError(file: path, location: "byte 8", message: "header length \(headerLength) exceeds the file")
        }
        let headerEnd = 16 + Int(headerLength)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[16..<headerEnd]))
        } catch {
            throw InputError(file: path, location: "byte 16", message: "header is not valid checkpoint JSON (\(error))")
        }
        var offset = headerEnd
        let payloadEnd = bytes.count - 4
        var arrays: [[Float]] = []
        for entry in header.arrays {
            guard entry.count >= 0, entry.count <= (payloadEnd - offset) / 4 else {
                throw InputError(file: path, location: "byte \(offset)",
                                 message: "array \(entry.name) claims \(entry.count) floats, more than the file holds")
            }
            let values = entry.count == 0 ? [] : bytes[offset..<(offset + entry.count * 4)].withUnsafeBytes { raw in
                [Float](unsafeUninitializedCapacity: entry.count) { buffer, initialized in
                    _ = memcpy(buffer.baseAddress!, raw.baseAddress!, entry.count * 4)
                    initialized = entry.count
                }
            }
            arrays.append(values)
            offset += entry.count * 4
        }
        guard offset == payloadEnd else {
            throw InputError(file: path, location: "byte \(offset)",
                             message: "\(payloadEnd - offset) bytes after the last array; expected the checksum")
        }
        return Checkpoint(header: header, arrays: arrays)
    }
}
