import CZlib

/// The CRC-32 checksum (zlib's, the same as gzip's and PNG's) of a byte buffer.
public func crc32Checksum(_ bytes: UnsafeRawBufferPointer, startingWith initial: UInt32 = 0) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return initial }
    var crc = UInt(initial)
    var offset = 0
    while offset < bytes.count {
        let chunk = min(bytes.count - offset, Int(UInt32.max >> 1))
        crc = crc32(crc, base.assumingMemoryBound(to: UInt8.self) + offset, UInt32(chunk))
        offset += chunk
    }
    return UInt32(truncatingIfNeeded: crc)
}

/// The CRC-32 checksum of `bytes`.
public func crc32Checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { crc32Checksum($0) }
}
