// NumPy `.npy` files for tests that read traces exported from Python.

import Foundation

/// The bytes of a `.npy` file with the given header dict text and raw data, padded the
/// way numpy pads (total header a multiple of 64), in format `version` 1, 2 or 3.
public func npyBytes(header dict: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
    let prefixLength = version == 1 ? 10 : 12
    var text = Array(dict.utf8)
    let unpadded = prefixLength + text.count + 1
    text += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64) + [0x0A]
    var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
    if version == 1 {
        bytes += [UInt8(text.count & 0xFF), UInt8(text.count >> 8)]
    } else {
        bytes += (0..<4).map { UInt8((text.count >> (8 * $0)) & 0xFF) }
    }
    return bytes + text + data
}

/// A `.npy` file of little-endian values with shape `shape` and numpy type `descr`.
public func npy<T: FixedWidthInteger>(_ values: [T], shape: [Int], descr: String, version: UInt8 = 1) -> [UInt8] {
    var data: [UInt8] = []
    for v in values { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
    return npyBytes(header: npyHeader(descr, shape), data: data, version: version)
}

/// A `.npy` file of float32 (`<f4`) or float64 (`<f8`) values.
public func npy(floats values: [Double], shape: [Int], descr: String = "<f4") -> [UInt8] {
    var data: [UInt8] = []
    for v in values {
        if descr == "<f8" {
            withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 }
        } else {
            withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { data += $0 }
        }
    }
    return npyBytes(header: npyHeader(descr, shape), data: data)
}

/// numpy's header dict for a C-ordered array.
public func npyHeader(_ descr: String, _ shape: [Int]) -> String {
    let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    return "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
}

/// Writes `bytes` to `directory/name`.
public func put(_ bytes: [UInt8], _ directory: String, _ name: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(name)))
}
