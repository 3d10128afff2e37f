import SwitchyardFileIO
import Foundation

/// Reader of the CIFAR-10 binary format (Krizhevsky 2009): files of 10,000 records, each one
/// label byte (0–9) followed by 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, row-major
/// 32 × 32). Training files `data_batch_1.bin` … `data_batch_5.bin`, test file `test_batch.bin`.
public enum CIFAR10Reader {
    /// The class names, index = label.
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck"]
    static let recordSize = 1 + 3 * 32 * 32

    /// Parses the records of one binary file.
    public static func parse(_ data: [UInt8], file: String) throws -> (pixels: [UInt8], labels: [Int32]) {
        guard !data.isEmpty, data.count % recordSize == 0 else {
            throw InputError(file: file, location: "byte \(data.count - data.count % recordSize)",
                             message: "file size \(data.count) is not a positive multiple of the \(recordSize)-byte CIFAR-10 record")
        }
        let count = data.count / recordSize
        var pixels = [UInt8](repeating: 0, count: count * (recordSize - 1))
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let offset = i * recordSize
            let label = data[offset]
            guard label < 10 else {
                throw InputError(file: file, location: "byte \(offset)",
                                 message: "label \(label) of record \(i) is not a class; expected 0…9")
            }
            labels[i] = Int32(label)
            pixels.replaceSubrange((i * (recordSize - 1))..<((i + 1) * (recordSize - 1)),
                                   with: data[(offset + 1)..<(offset + recordSize)])
        }
        return (pixels, labels)
    }

    /// Loads the training (five files) or test split from `directory`.
    public static func load(directory: String, split: DatasetSplit) throws -> ImageDataset {
        let files = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        var pixels: [UInt8] = [], labels: [Int32] = []
        for name in files {
            let path = (directory as NSString).appendingPathComponent(name)
            let part = try parse(GzipFile.read(path), file: path)
            pixels += part.pixels
            labels += part.labels
        }
        return ImageDataset(name: "cifar10/\(split.rawValue)", count: labels.count, channels: 3, height: 32, width: 32,
                            pixels: pixels, labels: labels, classNames: classNames)
    }
}
