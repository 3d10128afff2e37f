import SwitchyardFileIO
import Foundation

/// Loads a routing trace from whatever the user points at:
///
/// - a `.sytrace` or `.sytrace.gz` file (Switchyard's format, ``RoutingTraceFile``);
/// - a `.csv` or `.csv.gz` file (``RoutingTraceCSV``);
/// - a directory holding `experts.npy` (``RoutingTraceNPY``);
/// - Megatron-LM's router trace: a `router_trace_rank{R}.jsonl(.gz)` file, or a directory of
///   them (``MegatronRouterTrace``);
/// - a Switchyard run directory, one with a `traces/` folder of `epoch-N.sytrace`
///   files: the trace of the latest epoch (largest N) is loaded.
///
/// A file with another extension is recognised by its first bytes when it is a
/// `.sytrace` file; anything else is an `InputError` saying what is accepted.
public enum TraceLoader {
    /// What ``load(_:expertCount:)`` accepts, for messages.
    static let accepted = "a .sytrace(.gz) file, a .csv(.gz) file, a directory with experts.npy, Megatron-LM's router_trace_rank*.jsonl (a file or their directory), or a run directory with traces/epoch-N.sytrace"

    /// Loads the trace at `path` (see ``TraceLoader``). `expertCount` fixes the number
    /// of experts for CSV and NPY imports, whose files do not record it.
    public static func load(_ path: String, expertCount: Int? = nil) throws -> RoutingTrace {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError(file: path, message: "no such file or directory (expected \(accepted))")
        }
        if !isDirectory.boolValue {
            // A FIFO or device would block or never end: refused before any reader opens it.
            try GzipReader.checkRegularFile(path)
        }
        if isDirectory.boolValue {
            if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("experts.npy")) {
                return try RoutingTraceNPY.read(directory: path, expertCount: expertCount)
            }
            if directoryExists((path as NSString).appendingPathComponent("traces")) {
                guard let latest = try traces(inRunDirectory: path).last else {
                    throw InputError(file: (path as NSString).appendingPathComponent("traces"),
                                     message: "no epoch-N.sytrace file in the run's traces folder")
                }
                return try RoutingTraceFile.read(latest.path)
            }
            if MegatronRouterTrace.isTraceDirectory(path) {
                return try MegatronRouterTrace.read(path, expertCount: expertCount)
            }
            throw InputError(file: path, message: "directory holds neither experts.npy nor traces/ (expected \(accepted))")
        }
        let name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".sytrace") || name.hasSuffix(".sytrace.gz") {
            return try RoutingTraceFile.read(path)
        }
        if name.hasSuffix(".csv") || name.hasSuffix(".csv.gz") {
            return try RoutingTraceCSV.read(path, expertCount: expertCount)
        }
        if name.hasSuffix(".jsonl") || name.hasSuffix(".jsonl.gz") {
            return try MegatronRouterTrace.read(path, expertCount: expertCount)
        }
        if name.hasSuffix(".npy") || name.hasSuffix(".npy.gz") {
            throw InputError(file: path, message: "give the directory holding experts.npy (and weights.npy, probs.npy, …), not one array")
        }
        if try startsWithTraceMagic(path) {
            return try RoutingTraceFile.read(path)
        }
        throw InputError(file: path, message: "unrecognised kind of file (expected \(accepted))")
    }

    /// The traces of a Switchyard run: every `traces/epoch-N.sytrace` (or `.sytrace.gz`)
    /// in `runDirectory`, sorted by epoch N. Other files in `traces/` are ignored; an
    /// epoch present both compressed and not is an error.
    public static func traces(inRunDirectory runDirectory: String) throws -> [(epoch: Int, path: String)] {
        let folder = (runDirectory as NSString).appendingPathComponent("traces")
        guard directoryExists(folder) else {
            throw InputError(file: runDirectory, message: "not a run directory: it has no traces/ folder")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            throw InputError(file: folder, message: "cannot list the folder (\(error.localizedDescription))")
        }
        var byEpoch: [Int: String] = [:]
        for name in names {
            guard let epoch = epochNumber(name) else { continue }
            let path = (folder as NSString).appendingPathComponent(name)
            if let other = byEpoch[epoch] {
                throw InputError(file: path, message: "epoch \(epoch) also has \((other as NSString).lastPathComponent); keep one")
            }
            byEpoch[epoch] = path
        }
        return byEpoch.keys.sorted().map { (epoch: $0, path: byEpoch[$0]!) }
    }

    /// N for a file named `epoch-N.sytrace` or `epoch-N.sytrace.gz`, else nil.
    static func epochNumber(_ name: String) -> Int? {
        let stem: Substring
        if name.hasSuffix(".sytrace") {
            stem = name.dropLast(".sytrace".count)
        } else if name.hasSuffix(".sytrace.gz") {
            stem = name.dropLast(".sytrace.gz".count)
        } else {
            return nil
        }
        guard stem.hasPrefix("epoch-") else { return nil }
        let digits = stem.dropFirst("epoch-".count)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// Whether `path` is an existing directory.
    static func directoryExists(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Whether the (possibly gzip-compressed) file starts with the `.sytrace` magic.
    static func startsWithTraceMagic(_ path: String) throws -> Bool {
        try GzipFile.readPrefix(path, count: RoutingTraceFile.magic.count) == RoutingTraceFile.magic
    }
}
