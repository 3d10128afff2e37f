import SwitchyardFileIO
import SwitchyardTraces

extension Fuzz {
    /// `bytes` with its last four bytes replaced by the little-endian CRC-32 of the bytes
    /// before them, or nil if they already hold it (or there are fewer than 20 bytes). The
    /// `.sytrace` and checkpoint targets read both, so that mutations get past the checksum.
    public static func withTrailingCRC32(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count >= 20 else { return nil }
        let body = bytes.count - 4
        let crc = bytes.withUnsafeBytes { crc32Checksum(UnsafeRawBufferPointer(rebasing: $0[..<body])) }
        let stored = UInt32(bytes[body]) | UInt32(bytes[body + 1]) << 8 | UInt32(bytes[body + 2]) << 16 | UInt32(bytes[body + 3]) << 24
        guard stored != crc else { return nil }
        var fixed = bytes
        for i in 0..<4 { fixed[body + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
        return fixed
    }

    /// A trace a reader accepted must be valid, and must encode to `.sytrace` and decode to
    /// the same trace.
    public static func checkRoundTrip(_ trace: RoutingTrace) {
        do {
            try trace.validate()
            let bytes = try RoutingTraceFile.encode(trace)
            let again = try RoutingTraceFile.decode(bytes, file: "round-trip.sytrace")
            check(again == trace, "the trace changed in a .sytrace round trip")
        } catch {
            fatalError("fuzz: an accepted trace does not round-trip: \(error)")
        }
    }
}
