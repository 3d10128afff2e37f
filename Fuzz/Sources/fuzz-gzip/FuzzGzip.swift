// fuzz-gzip: any file, read by GzipFile.read (which every data set and trace reader goes
// through): decompressed when it is gzip, passed through otherwise. Also checks that a file
// that is not gzip comes back unchanged, that the size limit holds, and that what
// GzipFile.compress writes reads back.
import SwitchyardFileIO
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Fuzz.bytes(data, size)
    let path = Fuzz.write(input, to: "input.gz")
    Fuzz.parse {
        let contents = try GzipFile.read(path)
        if !GzipFile.isGzip(path) {
            Fuzz.check(contents == input, "a file that is not gzip did not read back unchanged")
        }
        if !contents.isEmpty {
            // One byte under the contents' size: must be refused, never cut short.
            do {
                let cut = try GzipFile.read(path, limit: contents.count - 1)
                Fuzz.check(false, "read with a limit of \(contents.count - 1) returned \(cut.count) bytes")
            } catch let error as InputError {
                Fuzz.check(error.file == path, "the size-limit error does not name the file: \(error)")
            }
        }
    }
    Fuzz.parse {
        let packed = Fuzz.write(try GzipFile.compress(input), to: "compressed.gz")
        let unpacked = try GzipFile.read(packed)
        Fuzz.check(unpacked == input, "GzipFile.compress did not read back")
    }
    return 0
}

@main enum FuzzGzip {
    static func main() { Fuzz.main() }
}
