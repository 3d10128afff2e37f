// fuzz-config: a run's config.json, then "%%%%", then --set values one per line
// (NAME=VALUE), resolved by ConfigurationResolver.resolve as `switchyard train --config FILE
// --set …` and `switchyard eval RUN` do (JSON decoding, the overrides, every range and the
// router's options). An empty config.json part means the tiny preset. Errors must name
// config.json when there are no --set values.
import SwitchyardFileIO
import Foundation
import FuzzSupport
import SwitchyardTraining

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.split(Fuzz.bytes(data, size), maximum: 2)
    let file = parts[0].isEmpty ? nil : Fuzz.write(parts[0], to: "config.json")
    let lines = parts.count > 1
        ? String(decoding: parts[1], as: UTF8.self).split(separator: "\n").map(String.init) : []
    Fuzz.parse(requireFile: file != nil && lines.isEmpty) {
        let settings = try JSONOverrides.parse(lines, option: "--set")
        let configuration = try ConfigurationResolver.resolve(preset: file == nil ? "tiny" : nil, file: file, settings: settings)
        // What a run then does with it: write it as config.json and read it back.
        let saved = Fuzz.path("saved.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(encoder.encode(configuration), to: saved)
        let again = try ConfigurationResolver.resolve(preset: nil, file: saved, settings: [])
        Fuzz.check(again == configuration, "the configuration changed in a write and read")
    }
    return 0
}

@main enum FuzzConfig {
    static func main() { Fuzz.main() }
}
