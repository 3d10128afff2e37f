import SwitchyardFileIO

/// Reader of the IDX format of MNIST and Fashion-MNIST (LeCun et al.; the format is described
/// at the MNIST database's page): a 4-byte magic number `00 00 08 NN` (0x08 = unsigned bytes,
/// NN = number of dimensions), NN big-endian UInt32 dimensions, then the bytes. Images files
/// have 3 dimensions (count, rows, columns), label files 1. Files may be gzip-compressed.
public enum IDXReader {
    /// A parsed IDX file: its dimensions and its bytes.
    public struct Array: Equatable, Sendable {
        /// The dimensions, outermost first.
        public var dimensions: [Int]
        /// The values, row-major.
        public var bytes: [UInt8]
    }

    /// Parses the IDX file at `path` (gzip or raw), expecting `expectedRank` dimensions.
    public static func read(_ path: String, expectedRank: Int) throws -> Array {
        try parse(GzipFile.read(path), file: path, expectedRank: expectedRank)
    }

    /// Parses IDX bytes; `file` names the source in error messages.
    public static func parse(_ data: [UInt8], file: String, expectedRank: Int) throws -> Array {
        guard data.count >= 4 else {
            throw InputError(file: file, location: "byte 0",
                             message: "file has \(data.count) bytes; an IDX file starts with a 4-byte magic number")
        }
        guard data[0] == 0, data[1] == 0 else {
            throw InputError(file: file, location: "byte 0",
                             message: "magic number starts \(hex(data[0])) \(hex(data[1])), expected 00 00 (not an IDX file)")
        }
        guard data[2] == 0x08 else {
            throw InputError(file: file, location: "byte 2",
                             message: "data type \(hex(data[2])) is not supported; expected 08 (unsigned bytes)")
        }
        let rank = Int(data[3])
        guard rank == expectedRank else {
            throw InputError(file: file, location: "byte 3",
                             message: "\(rank) dimensions, expected \(expectedRank) (\(expectedRank == 3 ? "images" : "labels"))")
        }
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else {
            throw InputError(file: file, location: "byte \(data.count)",
                             message: "header ends early: \(rank) dimensions need \(headerSize) header bytes, file has \(data.count)")
        }
        var dimensions: [Int] = []
        var total = 1
        for i in 0..<rank {
            let o = 4 + 4 * i
            let d = Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
            dimensions.append(d)
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            guard !overflow, product <= data.count else {
                throw InputError(file: file, location: "byte \(o)",
                                 message: "dimensions \(dimensions) need more bytes than the file's \(data.count)")
            }
            total = product
        }
        guard data.count - headerSize == total else {
            throw InputError(file: file, location: "byte \(headerSize)",
                             message: "dimensions \(dimensions) need \(total) data bytes, file has \(data.count - headerSize)")
        }
        return Array(dimensions: dimensions, bytes: [UInt8](data[headerSize...]))
    }

    /// The IDX encoding of `bytes` with `dimensions` (for writing subsets and tests).
    public static func encode(dimensions: [Int], bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
        for d in dimensions {
            out += [UInt8(truncatingIfNeeded: d >> 24), UInt8(truncatingIfNeeded: d >> 16),
                    UInt8(truncatingIfNeeded: d >> 8), UInt8(truncatingIfNeeded: d)]
        }
        return out + bytes
    }

    /// Loads an image file and a label file as one data set, checking that they agree and that
    /// every label is below `classNames.count`.
    public static func loadDataset(images: String, labels: String, name: String, classNames: [String]) throws -> ImageDataset {
        let imageArray = try read(images, expectedRank: 3)
        // Images of 0 × 0 pixels, or no image at all, are no data set; and with a dimension of
        // 0 the other two could be anything (4,294,967,295 × 4,294,967,295 pixels per image).
        if let zero = imageArray.dimensions.firstIndex(of: 0) {
            throw InputError(file: images, location: "byte \(4 + 4 * zero)",
                             message: "dimensions \(imageArray.dimensions): the \(["image count", "row count", "column count"][zero]) is 0; expected at least one image of at least 1 × 1 pixels")
        }
        let labelArray = try read(labels, expectedRank: 1)
        let count = imageArray.dimensions[0]
        guard labelArray.dimensions[0] == count else {
            throw InputError(file: labels, location: "byte 4",
                             message: "\(labelArray.dimensions[0]) labels, but \(images) has \(count) images")
        }
        var classLabels = [Int32](repeating: 0, count: count)
        for (i, label) in labelArray.bytes.enumerated() {
            guard Int(label) < classNames.count else {
                throw InputError(file: labels, location: "byte \(8 + i)",
                                 message: "label \(label) of image \(i) is not a class; expected 0…\(classNames.count - 1)")
            }
            classLabels[i] = Int32(label)
        }
        return ImageDataset(name: name, count: count, channels: 1, height: imageArray.dimensions[1],
                            width: imageArray.dimensions[2], pixels: imageArray.bytes, labels: classLabels,
                            classNames: classNames)
    }

    private static func hex(_ b: UInt8) -> String {
        let digits = Swift.Array("0123456789abcdef")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }
}
