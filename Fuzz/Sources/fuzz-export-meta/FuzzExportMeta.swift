// fuzz-export-meta: the Hugging Face exporter's meta.json, read by ExportMetadata as the NPY
// import does (`switchyard analyze DIR`). Only InputErrors; what parses applies to a
// two-layer trace without a trap, and the trace then still validates.
import SwitchyardFileIO
import FuzzSupport
import Foundation
import SwitchyardTraces

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "meta.json")
    Fuzz.parse {
        let meta = try ExportMetadata.read(path)
        var trace = RoutingTrace(expertCount: 4, tokenCount: 2, layers: [
            LayerRouting(layer: 0, offsets: [0, 1, 2], experts: [0, 1], weights: [1, 1]),
            LayerRouting(layer: 1, offsets: [0, 1, 2], experts: [2, 3], weights: [1, 1]),
        ])
        try meta.apply(to: &trace, file: path)
        do { try trace.validate() } catch { Fuzz.check(false, "an applied meta.json left an invalid trace: \(error)") }
    }
    return 0
}

@main enum FuzzExportMeta {
    static func main() { Fuzz.main() }
}
