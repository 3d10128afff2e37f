import SwitchyardFileIO
import Foundation

/// The training or test part of a data set.
public enum DatasetSplit: String, Sendable, CaseIterable {
    /// The training images.
    case train
    /// The test images.
    case test
}

/// Finds and loads the data sets Switchyard knows by name.
///
/// | name | files | default directory |
/// |---|---|---|
/// | `fashion-mnist` | IDX, gzip or raw | `/usr/share/datasets/fashion-mnist` (Debian `dataset-fashion-mnist`) |
/// | `mnist` | IDX, gzip or raw | none: pass a directory |
/// | `cifar10` | CIFAR-10 binary | none: pass a directory |
/// | `fashion-mnist-subset` | IDX gzip | `datasets/fashion-mnist-subset` in the Switchyard checkout (2,000 + 500 images) |
public enum DatasetLocator {
    /// The names accepted by ``load(name:directory:split:)``.
    public static let names = ["fashion-mnist", "mnist", "cifar10", "fashion-mnist-subset"]

    /// Fashion-MNIST's classes (Xiao, Rasul & Vollgraf 2017).
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// MNIST's classes.
    public static let mnistClasses = (0..<10).map(String.init)

    /// Loads `split` of data set `name` from `directory` (nil or empty: the default location).
    public static func load(name: String, directory: String?, split: DatasetSplit) throws -> ImageDataset {
        let directory = directory.flatMap { $0.isEmpty ? nil : $0 }
        switch name {
        case "fashion-mnist":
            let dir = directory ?? "/usr/share/datasets/fashion-mnist"
            return try loadIDX(directory: dir, split: split, name: name, classNames: fashionMNISTClasses, hint: """
                Install Debian's Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist` \
                (or `make deps`), or pass --data-dir DIR with the four IDX files.
                """)
        case "mnist":
            guard let directory else {
                throw InputError(location: "data.directory", message: "the mnist data set needs --data-dir DIR with its four IDX files")
            }
            return try loadIDX(directory: directory, split: split, name: name, classNames: mnistClasses,
                               hint: "Pass --data-dir DIR with train-images-idx3-ubyte(.gz) and the other three files.")
        case "fashion-mnist-subset":
            guard let dir = directory ?? subsetDirectory() else {
                throw InputError(location: "data.dataset", message: """
                    cannot find datasets/fashion-mnist-subset: run from the Switchyard checkout, set \
                    SWITCHYARD_DATASETS to its datasets folder, or pass --data-dir DIR
                    """)
            }
            return try loadIDX(directory: dir, split: split, name: name, classNames: fashionMNISTClasses,
                               hint: "The subset ships with Switchyard in datasets/fashion-mnist-subset.")
        case "cifar10":
            guard let directory else {
                throw InputError(location: "data.directory", message: """
                    the cifar10 data set needs --data-dir DIR holding data_batch_1.bin … data_batch_5.bin \
                    and test_batch.bin (the CIFAR-10 binary version)
                    """)
            }
            return try CIFAR10Reader.load(directory: directory, split: split)
        default:
            throw InputError(location: "data.dataset", message: "unknown data set '\(name)'; expected one of \(names.joined(separator: ", "))")
        }
    }

    /// The file pair of an IDX split in `directory`, preferring `.gz` names.
    static func idxFiles(directory: String, split: DatasetSplit) -> (images: String, labels: String)? {
        let prefix = split == .train ? "train" : "t10k"
        let fm = FileManager.default
        for suffix in [".gz", ""] {
            let images = (directory as NSString).appendingPathComponent("\(prefix)-images-idx3-ubyte\(suffix)")
            let labels = (directory as NSString).appendingPathComponent("\(prefix)-labels-idx1-ubyte\(suffix)")
            if fm.fileExists(atPath: images) && fm.fileExists(atPath: labels) { return (images, labels) }
        }
        return nil
    }

    static func loadIDX(directory: String, split: DatasetSplit, name: String, classNames: [String],
                        hint: String) throws -> ImageDataset {
        guard let files = idxFiles(directory: directory, split: split) else {
            let prefix = split == .train ? "train" : "t10k"
            throw InputError(file: directory, message: """
                no \(prefix)-images-idx3-ubyte(.gz) and \(prefix)-labels-idx1-ubyte(.gz) here. \(hint)
                """)
        }
        return try IDXReader.loadDataset(images: files.images, labels: files.labels,
                                         name: "\(name)/\(split.rawValue)", classNames: classNames)
    }

    /// The committed subset's directory: `$SWITCHYARD_DATASETS/fashion-mnist-subset`, then
    /// `./datasets/fashion-mnist-subset`, then the one beside this source file's checkout.
    public static func subsetDirectory() -> String? {
        var candidates: [String] = []
        if let root = ProcessInfo.processInfo.environment["SWITCHYARD_DATASETS"] {
            candidates.append((root as NSString).appendingPathComponent("fashion-mnist-subset"))
        }
        candidates.append((FileManager.default.currentDirectoryPath as NSString)
            .appendingPathComponent("datasets/fashion-mnist-subset"))
        let source = URL(fileURLWithPath: #filePath)
        candidates.append(source.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("datasets/fashion-mnist-subset").path)
        return candidates.first { idxFiles(directory: $0, split: .train) != nil }
    }

    /// Writes the first `count` images of `dataset` as gzip IDX files named for `split` in
    /// `directory` (how `datasets/fashion-mnist-subset` was made).
    public static func writeSubset(of dataset: ImageDataset, count: Int, split: DatasetSplit, to directory: String) throws {
        precondition(dataset.channels == 1, "IDX subsets hold single-channel images")
        let n = min(count, dataset.count)
        let prefix = split == .train ? "train" : "t10k"
        let images = IDXReader.encode(dimensions: [n, dataset.height, dataset.width],
                                      bytes: Array(dataset.pixels[0..<(n * dataset.pixelsPerImage)]))
        let labels = IDXReader.encode(dimensions: [n], bytes: dataset.labels[0..<n].map { UInt8($0) })
        try AtomicFile.write(GzipFile.compress(images, level: 9),
                             to: (directory as NSString).appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"))
        try AtomicFile.write(GzipFile.compress(labels, level: 9),
                             to: (directory as NSString).appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz"))
    }
}
