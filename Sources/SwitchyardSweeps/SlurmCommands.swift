import Foundation
import SwitchyardFileIO

/// Slurm's client commands (`sbatch`, `squeue`, `sacct`, `scontrol`): found on PATH, run with
/// their output captured.
public enum SlurmCommands {
    /// The path of `name` on PATH, or nil.
    public static func path(_ name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for directory in directories {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// What a command printed and how it ended.
    public struct Output: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// Runs `name` with `arguments`; nil when it is not on PATH.
    public static func run(_ name: String, _ arguments: [String]) -> Output? {
        guard let executable = path(name) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            return Output(status: -1, standardOutput: "", standardError: "\(error)")
        }
        // Read both before waiting, so a full pipe cannot block the command.
        let errorTail = TailBuffer(lines: 50)
        let reader = Thread {
            errorTail.append(err.fileHandleForReading.readDataToEndOfFile()[...].map { $0 }[...])
            errorTail.finish()
        }
        reader.start()
        let outputBytes = out.fileHandleForReading.readDataToEndOfFile()
        errorTail.waitUntilFinished()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, standardOutput: String(decoding: outputBytes, as: UTF8.self),
                      standardError: errorTail.lines.joined(separator: "\n"))
    }

    /// The state of each array task of `jobs` still known to `squeue` ("12_3" → "RUNNING").
    public static func queuedTasks(jobs: [String]) -> [String: String] {
        guard !jobs.isEmpty, let output = run("squeue", ["-h", "-r", "-j", jobs.joined(separator: ","), "-o", "%i|%T"]),
              output.status == 0 else { return [:] }
        return parseStates(output.standardOutput)
    }

    /// The final state of each array task of `jobs` from accounting (`sacct`), when the cluster keeps it.
    public static func accountedTasks(jobs: [String]) -> [String: String] {
        guard !jobs.isEmpty, let output = run("sacct", ["-n", "-P", "-X", "-j", jobs.joined(separator: ","), "-o", "JobID,State"]),
              output.status == 0 else { return [:] }
        return parseStates(output.standardOutput)
    }

    /// "12_3|RUNNING" lines → ["12_3": "RUNNING"] (the first word of a state: "CANCELLED by 0" → "CANCELLED").
    static func parseStates(_ text: String) -> [String: String] {
        var states: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "|", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            states[parts[0]] = parts[1].split(separator: " ").first.map(String.init) ?? parts[1]
        }
        return states
    }
}
