// fuzz-sytrace: a .sytrace routing trace (raw or gzip), read by RoutingTraceFile.read as
// `switchyard analyze run.sytrace` does. Mutations almost always break the trailing CRC-32,
// so an input whose checksum is wrong is read twice: as it is (it must be refused), and with
// the checksum recomputed, so that the fuzzer reaches the metadata and array checks behind it.
import FileIO
import FuzzSupport
import Traces

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Fuzz.bytes(data, size)
    let path = Fuzz.write(input, to: "trace.sytrace")
    Fuzz.parse {
        let trace = try RoutingTraceFile.read(path)
        Fuzz.checkRoundTrip(trace)
    }
    if let fixed = Fuzz.withTrailingCRC32(input) {
        let path = Fuzz.write(fixed, to: "trace.sytrace")
        Fuzz.parse {
            let trace = try RoutingTraceFile.read(path)
            Fuzz.checkRoundTrip(trace)
        }
    }
    return 0
}

@main enum FuzzSytrace {
    static func main() { Fuzz.main() }
}
