// fuzz-npy: the NumPy arrays of a routing trace, experts.npy, weights.npy, probs.npy,
// labels.npy, positions.npy, groups.npy, domains.npy and shared_gate.npy (RoutingTraceNPY.fileNames),
// in that order, separated by "%%%%" (an empty part: no such
// file), imported from their directory by RoutingTraceNPY.read (which parses each with
// NPYArray) as `switchyard analyze DIR` does. An imported trace must pass validation and
// survive a .sytrace round trip.
import SwitchyardFileIO
import Foundation
import FuzzSupport
import SwitchyardTraces

let directory = Fuzz.path("npy")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let parts = Fuzz.split(Fuzz.bytes(data, size), maximum: RoutingTraceNPY.fileNames.count)
    for (i, name) in RoutingTraceNPY.fileNames.enumerated() {
        if i == 0 || (i < parts.count && !parts[i].isEmpty) {
            Fuzz.write(i < parts.count ? parts[i] : [], to: "npy/\(name)")
        } else {
            Fuzz.remove("npy/\(name)")
        }
    }
    Fuzz.parse {
        let trace = try RoutingTraceNPY.read(directory: directory)
        Fuzz.checkRoundTrip(trace)
    }
    return 0
}

@main enum FuzzNPY {
    static func main() { Fuzz.main() }
}
