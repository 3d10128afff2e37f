import Foundation
import SwitchyardFileIO
import SwitchyardTraining

/// A sweep directory's `manifest.jsonl` (one ``SweepRun`` per line) and the files written
/// beside it by `sweep plan`: `configs/ID.json` for each run and a copy of the spec.
///
/// Reading checks every line: it must decode, its index must be its line's, its id must be the
/// hash of its configuration and its command the one derived from the id; a manifest that was
/// edited or cut short is refused with the line, never half-run.
public struct SweepManifest: Sendable {
    /// The sweep directory.
    public var directory: String
    /// The runs, in index order.
    public var runs: [SweepRun]

    /// The manifest's name inside the sweep directory.
    public static let fileName = "manifest.jsonl"

    /// A manifest of `runs` for `directory` (nothing written yet).
    public init(directory: String, runs: [SweepRun]) {
        self.directory = directory
        self.runs = runs
    }

    /// A path inside the sweep directory.
    public func path(_ relative: String) -> String {
        (directory as NSString).appendingPathComponent(relative)
    }

    /// The manifest file's path.
    public var file: String { path(SweepManifest.fileName) }

    /// The manifest's text: one JSON object per line, keys sorted.
    public func text() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try runs.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
    }

    /// Writes `configs/ID.json` for each run, the spec's copy and then the manifest, each
    /// atomically. A directory that already holds a different manifest is refused.
    public func write(specText: String, specName: String) throws {
        let manifestText = try text()
        if let existing = FileManager.default.contents(atPath: file) {
            guard String(decoding: existing, as: UTF8.self) == manifestText else {
                throw InputError(file: file, message: "this directory already holds a different sweep; plan into another directory (its runs are kept)")
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        for run in runs {
            try AtomicFile.write(try encoder.encode(run.configuration), to: path(run.configPath))
        }
        try AtomicFile.write(specText, to: path(specName))
        try AtomicFile.write(manifestText, to: file)
    }

    /// Reads and checks `DIR/manifest.jsonl`.
    public static func read(directory: String) throws -> SweepManifest {
        let file = (directory as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: file) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
            throw InputError(file: file, message: exists && isDirectory.boolValue
                ? "no manifest here; write one with `switchyard sweep plan SPEC --out \(directory)`"
                : "no sweep directory \(directory); write one with `switchyard sweep plan SPEC --out \(directory)`")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: file, message: "not UTF-8 text; the manifest is corrupt, plan the sweep again")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() } else if !text.isEmpty {
            throw InputError(file: file, location: "line \(lines.count)", message: "the last line has no newline: the manifest was cut short; plan the sweep again")
        }
        guard !lines.isEmpty else { throw InputError(file: file, message: "the manifest is empty; plan the sweep again") }
        var runs: [SweepRun] = []
        var seen: [String: Int] = [:]
        for (i, line) in lines.enumerated() {
            let place = "line \(i + 1)"
            let run: SweepRun
            do {
                run = try JSONDecoder().decode(SweepRun.self, from: Data(line.utf8))
            } catch {
                throw InputError(file: file, location: place, message: "not a sweep run (\(decodingReason(error))); the manifest is corrupt, plan the sweep again")
            }
            guard run.index == i else {
                throw InputError(file: file, location: place, message: "index \(run.index), expected \(i): lines are missing or out of order")
            }
            let id = RunID.of(run.configuration)
            guard run.id == id else {
                throw InputError(file: file, location: place, message: "id \(run.id) is not the hash of the line's configuration (\(id)): the line was edited; plan the sweep again")
            }
            guard run.command == SweepRun(index: i, id: id, settings: [], configuration: run.configuration).command else {
                throw InputError(file: file, location: place, message: "the command is not the run's (\(run.command))")
            }
            if let first = seen[id] {
                throw InputError(file: file, location: place, message: "run \(id) is also on line \(first + 1)")
            }
            do {
                try ConfigurationResolver.validate(run.configuration)
            } catch let error as InputError {
                throw InputError(file: file, location: place, message: "configuration: \(error.description)")
            }
            seen[id] = i
            runs.append(run)
        }
        return SweepManifest(directory: directory, runs: runs)
    }

    /// The run at `index`, or an error naming the range.
    public func run(at index: Int) throws -> SweepRun {
        guard runs.indices.contains(index) else {
            throw InputError(file: file, message: "no run with index \(index); the manifest has \(runs.count) runs (0…\(runs.count - 1))")
        }
        return runs[index]
    }

    private static func decodingReason(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field \(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type"
        case .dataCorrupted(let context): return context.debugDescription
        default: return "\(error)"
        }
    }
}
