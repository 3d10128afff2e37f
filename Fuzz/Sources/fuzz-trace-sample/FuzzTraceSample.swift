// fuzz-trace-sample: a routing trace CSV sampled in one pass by RoutingTraceCSV.sample, as
// `switchyard analyze export.csv --sample N` does. Only InputErrors; a sample is a valid
// trace; a sample of every unit of a file whose tokens are numbered without gaps is the
// trace that RoutingTraceCSV.read gives, and its whole-file counts are the read trace's.
import SwitchyardFileIO
import FuzzSupport
import SwitchyardTraces
import SwitchyardTensorCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "trace.csv")
    Fuzz.parse {
        var generator = SeededRNG(seed: UInt64(size))  // the same input draws the same sample
        let small = try RoutingTraceCSV.sample(path, units: 2, using: &generator)
        Fuzz.check(small.unitsKept == min(2, small.unitsInFile), "kept \(small.unitsKept) of \(small.unitsInFile) units, asked for 2")
        if small.trace.layers.count * (small.trace.tokenCount + 1) <= 1 << 20 { Fuzz.checkRoundTrip(small.trace) }
        let all = try RoutingTraceCSV.sample(path, units: 1 << 20, using: &generator)
        guard all.trace.layers.count * (all.trace.tokenCount + 1) <= 1 << 20,
              let read = try? RoutingTraceCSV.read(path), read.tokenCount == all.trace.tokenCount else { return }
        var sampled = all.trace
        sampled.metadata["sample"] = nil
        Fuzz.check(sampled == read, "a sample of every unit differs from the file read whole")
        for (l, layer) in read.layers.enumerated() {
            var counts = [Int](repeating: 0, count: read.expertCount)
            for e in layer.experts { counts[Int(e)] += 1 }
            Fuzz.check(all.expertCounts[l] == counts, "layer \(l): whole-file counts \(all.expertCounts[l]), read \(counts)")
        }
    }
    return 0
}

@main enum FuzzTraceSample {
    static func main() { Fuzz.main() }
}
