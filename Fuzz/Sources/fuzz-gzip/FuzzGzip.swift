// fuzz-gzip: any file, read by GzipFile.read (GzipReader, which every data set and trace
// reader goes through): decompressed when it is gzip, passed through otherwise. Also checks
// that a file that is not gzip comes back unchanged, that the size limit holds, that what
// GzipFile.compress writes reads back, and that it is refused without its last 1-8 bytes.
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
        let compressed = try GzipFile.compress(input)
        let packed = Fuzz.write(compressed, to: "compressed.gz")
        let unpacked = try GzipFile.read(packed)
        Fuzz.check(unpacked == input, "GzipFile.compress did not read back")
        // Without any of the trailer's last bytes, the stream must be refused, never read short.
        let k = 1 + Int(input.first ?? 0) % 8
        let cut = Fuzz.write(Array(compressed.dropLast(k)), to: "cut.gz")
        do {
            let short = try GzipFile.read(cut)
            Fuzz.check(false, "a gzip stream without its last \(k) bytes read as \(short.count) bytes")
        } catch let error as InputError {
            Fuzz.check(error.file == cut, "the truncation error does not name the file: \(error)")
        }
    }
    return 0
}

@main enum FuzzGzip {
    static func main() { Fuzz.main() }
}
