// fuzz-megatron: Megatron-LM's router trace (router_trace_rank0.jsonl), read by
// MegatronRouterTrace as `switchyard analyze FILE.jsonl` does. Only InputErrors; an accepted
// trace validates and survives a .sytrace round trip.
import SwitchyardFileIO
import FuzzSupport
import SwitchyardTraces

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "router_trace_rank0.jsonl")
    Fuzz.parse {
        let trace = try MegatronRouterTrace.read(path)
        if trace.layers.count * (trace.tokenCount + 1) <= 1 << 20 { Fuzz.checkRoundTrip(trace) }
    }
    return 0
}

@main enum FuzzMegatron {
    static func main() { Fuzz.main() }
}
