// fuzz-run-directory: a run directory's config.json, epochs.jsonl, summary.json and
// metrics.jsonl together (the input's four parts, split at "%%%%"; an empty part is a missing
// file), read as `switchyard train --resume` reads them before it touches a checkpoint
// (RunDirectorySetup.savedConfiguration, checkResume, prepare(.resume); Trainer.recordedEpochs;
// MetricsLog(path:keepingStepsUpTo:)) and as `switchyard report` does (RunDirectory).
import SwitchyardFileIO
import Foundation
import FuzzSupport
import SwitchyardTraining

let names = ["config.json", "epochs.jsonl", "summary.json", "metrics.jsonl"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.split(Fuzz.bytes(data, size), maximum: names.count)
    let run = Fuzz.path("run")
    try? FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    for (i, name) in names.enumerated() {
        if i < parts.count, !parts[i].isEmpty { Fuzz.write(parts[i], to: "run/" + name) } else { Fuzz.remove("run/" + name) }
    }
    // --resume: the saved configuration, and a command line that changes only --epochs.
    Fuzz.parse {
        guard let saved = try RunDirectorySetup.savedConfiguration(in: run) else { return }
        var longer = saved
        longer.epochs = saved.epochs + 1
        try RunDirectorySetup.checkResume(of: run, saved: saved, requested: longer)
        var other = saved
        other.threads = saved.threads == 1 ? 2 : 1
        do {
            try RunDirectorySetup.checkResume(of: run, saved: saved, requested: other)
            Fuzz.check(false, "a changed thread count was accepted on --resume")
        } catch let error as InputError {
            Fuzz.check(error.message.contains("threads ("), "the refusal does not name threads: \(error)")
        }
    }
    Fuzz.parse { _ = try RunDirectorySetup.prepare(run, mode: .resume) }
    let recorded = Trainer.recordedEpochs(in: run + "/epochs.jsonl")
    Fuzz.check(recorded >= 0, "a negative count of recorded epochs")
    if recorded > 0 {
        Fuzz.parse {
            let records = try MetricsLog.read(EpochRecord.self, from: run + "/epochs.jsonl")
            Fuzz.check(Set(records.map(\.epoch)).isSuperset(of: 1...recorded), "recordedEpochs counts epochs the log lacks")
        }
    }
    // `switchyard report`: the whole directory, and what a report computes from it.
    Fuzz.parse {
        let directory = try RunDirectory(path: run)
        _ = directory.finalAccuracy
        _ = directory.trainSeconds
        _ = directory.imagesPerSecond
        _ = directory.configurationIgnoringSeed
    }
    // What a resumed run does to its logs: keep the lines up to its checkpoint's step (last:
    // it rewrites them).
    for name in ["epochs.jsonl", "metrics.jsonl"] where FileManager.default.fileExists(atPath: run + "/" + name) {
        Fuzz.parse { _ = try MetricsLog(path: run + "/" + name, keepingStepsUpTo: 4) }
    }
    return 0
}

@main enum FuzzRunDirectory {
    static func main() { Fuzz.main() }
}
