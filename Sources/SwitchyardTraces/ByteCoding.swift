import CZlib
import Foundation

/// Little-endian encoding and decoding of the raw arrays in binary trace files, and the
/// CRC-32 that guards them.
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

    /// The CRC-32 (IEEE 802.3, zlib's `crc32`, the same as Python's `zlib.crc32`) of
    /// `buffer[0..<count]`.
    static func crc32(_ buffer: UnsafeRawBufferPointer, count: Int) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        var done = 0
        let chunk = 1 << 30
        while done < count {
            let n = min(chunk, count - done)
            crc = CZlib.crc32(crc, buffer.baseAddress!.advanced(by: done).assumingMemoryBound(to: UInt8.self), UInt32(n))
            done += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The CRC-32 of all of `bytes`.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0, count: $0.count) }
    }
}
