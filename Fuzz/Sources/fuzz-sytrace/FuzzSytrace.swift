// fuzz-sytrace: a .sytrace routing trace (raw or gzip), read by RoutingTraceFile.read as
// `switchyard analyze run.sytrace` does. Mutations almost always break the trailing CRC-32,
// so an input whose checksum is wrong is read twice: as it is (it must be refused), and with
// the checksum recomputed, so that the fuzzer reaches the metadata and array checks behind it.
// A small accepted trace is then analysed as `switchyard analyze` does (every statistic, a few
// bootstrap resamples and permutations, the routing-group bootstrap when it has groups): the
// analysis must finish or refuse with an InputError, never trap.
import SwitchyardFileIO
import FuzzSupport
import SwitchyardRoutingStatistics
import SwitchyardTraces

/// Analyses `trace` when it is small enough to keep the fuzzer fast: the statistics' tables
/// grow with classes × layers × experts and positions × layers × experts, so those stay small
/// (a few thousand cells) as well as the tokens.
func analyzeIfSmall(_ trace: RoutingTrace, path: String) throws {
    let largestPosition = Int(trace.positions?.max() ?? 0), largestLabel = Int(trace.labels?.max() ?? 0)
    let cells = trace.layers.count * trace.expertCount
    guard trace.tokenCount <= 4_096, trace.assignmentCount <= 16_384, cells <= 1_024,
          max(trace.classCount, largestLabel + 1) * cells <= 16_384, (largestPosition + 1) * cells <= 16_384
    else { return }
    _ = try analyze(trace: trace, options: AnalysisOptions(bootstrapResamples: 12, permutations: 12, source: path))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Fuzz.bytes(data, size)
    let path = Fuzz.write(input, to: "trace.sytrace")
    Fuzz.parse {
        let trace = try RoutingTraceFile.read(path)
        Fuzz.checkRoundTrip(trace)
        try analyzeIfSmall(trace, path: path)
    }
    if let fixed = Fuzz.withTrailingCRC32(input) {
        let path = Fuzz.write(fixed, to: "trace.sytrace")
        Fuzz.parse {
            let trace = try RoutingTraceFile.read(path)
            Fuzz.checkRoundTrip(trace)
            try analyzeIfSmall(trace, path: path)
        }
    }
    return 0
}

@main enum FuzzSytrace {
    static func main() { Fuzz.main() }
}
