import Foundation

/// Little-endian encoding and decoding of the raw arrays in binary trace files (their
/// CRC-32 is SwitchyardFileIO's `crc32Checksum`).
enum ByteCoding {
    /// Appends `value` in little-endian byte order.
    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends 32-bit values (Int32 or Float) as little-endian bytes.
    static func appendArray<T: BitwiseCopyable>(_ values: [T], to bytes: inout [UInt8]) {
        precondition(MemoryLayout<T>.size == 4, "trace arrays hold 4-byte elements")
        #if _endian(little)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        values.withUnsafeBytes { raw in
            for i in 0..<values.count {
                append(raw.load(fromByteOffset: 4 * i, as: UInt32.self), to: &bytes)
            }
        }
        #endif
    }

    /// `count` 4-byte little-endian elements starting at `offset` of `buffer` (the caller
    /// has checked the range).
    static func readArray<T: BitwiseCopyable>(_ type: T.Type, from buffer: UnsafeRawBufferPointer,
                                              at offset: Int, count: Int) -> [T] {
        precondition(MemoryLayout<T>.size == 4 && offset >= 0 && offset + 4 * count <= buffer.count)
        return [T](unsafeUninitializedCapacity: count) { destination, initialized in
            if count > 0 {
                let target = UnsafeMutableRawPointer(destination.baseAddress!)
                target.copyMemory(from: buffer.baseAddress! + offset, byteCount: 4 * count)
                #if _endian(big)
                let words = target.assumingMemoryBound(to: UInt32.self)
                for i in 0..<count { words[i] = UInt32(littleEndian: words[i]) }
                #endif
            }
            initialized = count
        }
    }

    /// A little-endian integer at `offset` of `buffer` (the caller has checked the range).
    static func load<T: FixedWidthInteger>(_ type: T.Type, from buffer: UnsafeRawBufferPointer, at offset: Int) -> T {
        T(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
