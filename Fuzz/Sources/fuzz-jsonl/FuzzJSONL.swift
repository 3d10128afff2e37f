// fuzz-jsonl: a JSON Lines file, read by MetricsLog.read both as a run's metrics.jsonl
// (StepRecord) and as its epochs.jsonl (EpochRecord), as `switchyard report` and
// `switchyard train --resume` do; and opened by MetricsLog(path:keepingStepsUpTo:), which a
// resumed run uses to drop the lines after its checkpoint.
import SwitchyardFileIO
import FuzzSupport
import SwitchyardTraining

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Fuzz.bytes(data, size)
    let path = Fuzz.write(input, to: "metrics.jsonl")
    Fuzz.parse { _ = try MetricsLog.read(StepRecord.self, from: path) }
    Fuzz.parse { _ = try MetricsLog.read(EpochRecord.self, from: path) }
    let resumed = Fuzz.write(input, to: "resumed.jsonl")
    Fuzz.parse { _ = try MetricsLog(path: resumed, keepingStepsUpTo: 10) }
    return 0
}

@main enum FuzzJSONL {
    static func main() { Fuzz.main() }
}
