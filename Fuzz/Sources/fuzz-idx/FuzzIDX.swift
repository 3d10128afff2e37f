// fuzz-idx: an IDX images file and an IDX labels file (MNIST, Fashion-MNIST), separated by
// "%%%%", loaded as a data set by IDXReader.loadDataset, as `switchyard train` loads them.
// Without a separator the whole input is the images file and the labels file is empty.
import SwitchyardDatasets
import SwitchyardFileIO
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.split(Fuzz.bytes(data, size), maximum: 2)
    let images = Fuzz.write(parts[0], to: "images-idx3-ubyte")
    let labels = Fuzz.write(parts.count > 1 ? parts[1] : [], to: "labels-idx1-ubyte")
    Fuzz.parse {
        let set = try IDXReader.loadDataset(images: images, labels: labels, name: "fuzz",
                                            classNames: DatasetLocator.fashionMNISTClasses)
        // What the trainer does next: the size of an image and the first images.
        Fuzz.check(set.pixels.count == set.count * set.pixelsPerImage, "pixel count does not match the shape")
        _ = set.prefix(1)
    }
    return 0
}

@main enum FuzzIDX {
    static func main() { Fuzz.main() }
}
