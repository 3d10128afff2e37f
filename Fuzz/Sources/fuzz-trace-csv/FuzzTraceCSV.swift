// fuzz-trace-csv: a routing trace CSV (token,layer,expert,weight[,label,position,prob]; raw
// or gzip), imported by RoutingTraceCSV.read as `switchyard analyze export.csv` does. An
// imported trace must pass validation and survive a .sytrace round trip.
import SwitchyardFileIO
import FuzzSupport
import SwitchyardTraces

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "trace.csv")
    Fuzz.parse {
        let trace = try RoutingTraceCSV.read(path)
        // A few rows may number up to 2^24 (layer, token) cells (tokens without rows have no
        // assignment), which the importer allows; for those, the round trip's four more passes
        // over every per-token array would take an instrumented build past the 10-second limit.
        if trace.layers.count * (trace.tokenCount + 1) <= 1 << 20 {
            Fuzz.checkRoundTrip(trace)
        }
    }
    return 0
}

@main enum FuzzTraceCSV {
    static func main() { Fuzz.main() }
}
