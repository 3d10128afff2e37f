// fuzz-checkpoint: a training checkpoint (SYCKPT magic, header length, JSON header, Float32
// arrays, CRC-32), read by Checkpoint.read as `switchyard train --resume` and
// `switchyard eval` do. As for .sytrace, an input with a wrong checksum is also read with
// the checksum recomputed. A checkpoint that reads must write and read back the same.
import SwitchyardFileIO
import FuzzSupport
import SwitchyardTraining

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Fuzz.bytes(data, size)
    var variants = [input]
    if let fixed = Fuzz.withTrailingCRC32(input) { variants.append(fixed) }
    for bytes in variants {
        let path = Fuzz.write(bytes, to: "epoch-1.ckpt")
        Fuzz.parse {
            let checkpoint = try Checkpoint.read(path)
            let copy = Fuzz.path("copy.ckpt")
            try checkpoint.write(to: copy)
            let again = try Checkpoint.read(copy)
            Fuzz.check(again.header == checkpoint.header, "the header changed in a write and read")
            Fuzz.check(again.arrays.map { $0.map(\.bitPattern) } == checkpoint.arrays.map { $0.map(\.bitPattern) },
                       "the arrays changed in a write and read")
        }
    }
    return 0
}

@main enum FuzzCheckpoint {
    static func main() { Fuzz.main() }
}
