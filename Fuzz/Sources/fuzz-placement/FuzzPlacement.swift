// fuzz-placement: an expert placement file (JSON list, per-layer JSON or CSV; raw or gzip), read
// by PlacementFile.read as `switchyard simulate --placement FILE` does, for a fixed trace of 8
// experts in layers 1 and 3 on 4 devices. An accepted placement must be in range, write and
// read back the same, and simulate with every kept row on some device.
import FuzzSupport
import SwitchyardCostModel
import SwitchyardFileIO
import SwitchyardTraces

let trace: RoutingTrace = {
    var offsets: [Int32] = [0], experts: [Int32] = []
    for t in 0..<16 {
        experts += [Int32(t % 8), Int32((t * 3 + 1) % 8)]
        offsets.append(Int32(experts.count))
    }
    let weights = [Float](repeating: 0.5, count: experts.count)
    return RoutingTrace(expertCount: 8, tokenCount: 16, layers: [
        LayerRouting(layer: 1, offsets: offsets, experts: experts, weights: weights),
        LayerRouting(layer: 3, offsets: offsets, experts: experts.reversed(), weights: weights),
    ], routingGroups: [10, 6])
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "placement")
    Fuzz.parse {
        let placement = try PlacementFile.read(path, trace: trace, devices: 4)
        Fuzz.check(placement.devices.count == 2 && placement.devices.allSatisfy { $0.count == 8 && $0.allSatisfy { (0..<4).contains($0) } },
                   "accepted placement out of range: \(placement.devices)")
        let again = Fuzz.write(Array(PlacementFile.json(placement, trace: trace)), to: "saved.json")
        let reread = try PlacementFile.read(again, trace: trace, devices: 4)
        Fuzz.check(reread.devices == placement.devices, "saved placement reads back differently")
        let result = try ExpertParallelSimulation.run(trace, groups: DispatchGroups(trace), placement: placement,
                                                      options: SimulationOptions(devices: 4, capacityFactor: 1.0))
        Fuzz.check(result.layers.allSatisfy { $0.deviceRows.reduce(0, +) == 32 - $0.summary.dropped }, "rows not conserved")
    }
    return 0
}

@main enum FuzzPlacement {
    static func main() { Fuzz.main() }
}
