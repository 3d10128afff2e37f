// fuzz-cifar: a CIFAR-10 binary batch (1-byte label + 3,072 pixel bytes per record, raw or
// gzip), loaded as the test split by CIFAR10Reader.load from a directory holding it as
// test_batch.bin, as `switchyard train --set data.dataset=cifar10` loads it.
import SwitchyardDatasets
import SwitchyardFileIO
import Foundation
import FuzzSupport

let directory = Fuzz.path("cifar")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    Fuzz.write(Fuzz.bytes(data, size), to: "cifar/test_batch.bin")
    Fuzz.parse {
        let set = try CIFAR10Reader.load(directory: directory, split: .test)
        Fuzz.check(set.count >= 1 && set.pixels.count == set.count * set.pixelsPerImage, "pixel count does not match the shape")
        Fuzz.check(set.labels.allSatisfy { $0 >= 0 && $0 < 10 }, "a label outside 0…9 was accepted")
    }
    return 0
}

@main enum FuzzCIFAR {
    static func main() { Fuzz.main() }
}
