import Foundation
import SwitchyardTraining

/// A run's id: a hash of its resolved configuration, so the same configuration always gets
/// the same id, whatever the order of the spec that produced it.
///
/// The configuration is encoded as JSON with sorted keys (the order of fields and of router
/// options never matters) with `threads` left out: the thread count changes how a run is
/// computed (the last bits of its numbers), not which experiment it is, and each executor
/// chooses it (docs/sweeps.md). The hash is 64-bit FNV-1a of those bytes, written as 16
/// hexadecimal digits.
public enum RunID {
    /// The id of `configuration`.
    public static func of(_ configuration: TrainingConfiguration) -> String {
        let bytes = Array(canonicalJSON(configuration).utf8)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The configuration's JSON with sorted keys, `threads` set to 0.
    public static func canonicalJSON(_ configuration: TrainingConfiguration) -> String {
        var c = configuration
        c.threads = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(c)) ?? Data(), as: UTF8.self)
    }

    /// Whether two configurations are the same experiment (equal but for `threads`).
    public static func sameExperiment(_ a: TrainingConfiguration, _ b: TrainingConfiguration) -> Bool {
        var a = a, b = b
        a.threads = 0
        b.threads = 0
        return a == b
    }
}
