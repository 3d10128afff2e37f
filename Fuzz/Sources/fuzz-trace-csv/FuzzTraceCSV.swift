// fuzz-trace-csv: a routing trace CSV (token,layer,expert,weight[,label,position,prob]; raw
// or gzip), imported by RoutingTraceCSV.read as `switchyard analyze export.csv` does. An
// imported trace must pass validation and survive a .sytrace round trip.
import FileIO
import FuzzSupport
import Traces

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "trace.csv")
    Fuzz.parse {
        let trace = try RoutingTraceCSV.read(path)
        Fuzz.checkRoundTrip(trace)
    }
    return 0
}

@main enum FuzzTraceCSV {
    static func main() { Fuzz.main() }
}
