// fuzz-npy: the NumPy arrays of a routing trace, experts.npy, weights.npy, probs.npy,
// labels.npy, positions.npy, groups.npy, domains.npy and shared_gate.npy (RoutingTraceNPY.fileNames),
// in that order, separated by "%%%%" (an empty part: no such
// file), imported from their directory by RoutingTraceNPY.read (which parses each with
// NPYArray) as `switchyard analyze DIR` does. An imported trace must pass validation and
// survive a .sytrace round trip, and the one-pass analysis (`analyze DIR --stream`, chunks of
// 3 tokens) must give the in-memory analysis's numbers without resampling whenever that succeeds.
import SwitchyardFileIO
import Foundation
import FuzzSupport
import SwitchyardTraces
import SwitchyardRoutingStatistics

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
    var whole: TraceAnalysis?
    var options = AnalysisOptions()
    options.bootstrapResamples = 0
    options.permutations = 0
    options.source = directory
    Fuzz.parse {
        let trace = try RoutingTraceNPY.read(directory: directory)
        Fuzz.checkRoundTrip(trace)
        whole = try? analyze(trace: trace.labelledForStatistics().trace, options: options)
    }
    Fuzz.parse {
        var streamed = try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil), options: options,
                                         tokensPerChunk: 3).analysis
        guard var whole else { return }
        streamed.resampling = whole.resampling
        for i in (whole.sharedExperts ?? []).indices { whole.sharedExperts![i].gateQuartiles = nil }
        // A layer whose probability rows sum to 1 in some chunks only gets no entropy in one pass.
        if streamed != whole, (try? JSONEncoder().encode(streamed)) != (try? JSONEncoder().encode(whole)) {
            fatalError("fuzz: the one-pass analysis differs from the in-memory analysis")
        }
    }
    return 0
}

@main enum FuzzNPY {
    static func main() { Fuzz.main() }
}
