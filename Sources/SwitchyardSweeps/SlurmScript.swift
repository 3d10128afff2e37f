import Foundation
import SwitchyardFileIO

/// The sbatch script of a sweep: one job array whose task N runs manifest line N
/// (docs/sweeps.md explains it line by line).
public struct SlurmScript: Equatable, Sendable {
    /// What the user chose for the job.
    public struct Options: Equatable, Sendable {
        /// `--partition`.
        public var partition: String?
        /// `--time` (Slurm's forms: minutes, MM:SS, HH:MM:SS, D-HH:MM:SS).
        public var time: String?
        /// At most this many tasks at once (`%M` of `--array`); nil: no limit.
        public var maxParallel: Int?
        /// `--cpus-per-task`.
        public var cpusPerTask: Int
        /// `--mem`.
        public var memory: String?
        /// `--account`.
        public var account: String?
        /// Seconds before the time limit at which the batch script gets SIGUSR1 (`--signal=B:USR1@S`).
        public var signalSeconds: Int
        /// More `#SBATCH` arguments, as given.
        public var extraArguments: [String]
        /// The job's name.
        public var jobName: String

        /// Defaults: one CPU, a signal 120 s before the limit.
        public init(partition: String? = nil, time: String? = nil, maxParallel: Int? = nil, cpusPerTask: Int = 1,
                    memory: String? = nil, account: String? = nil, signalSeconds: Int = 120,
                    extraArguments: [String] = [], jobName: String = "switchyard-sweep") {
            self.partition = partition
            self.time = time
            self.maxParallel = maxParallel
            self.cpusPerTask = cpusPerTask
            self.memory = memory
            self.account = account
            self.signalSeconds = signalSeconds
            self.extraArguments = extraArguments
            self.jobName = jobName
        }

        /// Checks the values that Slurm would otherwise reject after submission, or that would
        /// break the script.
        public func validate() throws {
            if let maxParallel, maxParallel < 1 {
                throw InputError(location: "--max-parallel", message: "\(maxParallel) is not allowed; expected 1 or more")
            }
            if cpusPerTask < 1 { throw InputError(location: "--cpus-per-task", message: "\(cpusPerTask) is not allowed; expected 1 or more") }
            if signalSeconds < 1 || signalSeconds > 65535 {
                throw InputError(location: "--signal-seconds", message: "\(signalSeconds) is not allowed; expected 1 to 65535 (Slurm's range)")
            }
            if let time, time.range(of: #"^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$"#, options: .regularExpression) == nil {
                throw InputError(location: "--time", message: "'\(time)' is not a Slurm time (minutes, MM:SS, HH:MM:SS or D-HH:MM:SS)")
            }
            for (name, value) in [("--partition", partition), ("--mem", memory), ("--account", account), ("--job-name", jobName)] {
                if let value, value.isEmpty || value.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == "\\" }) {
                    throw InputError(location: name, message: "'\(value)' is not allowed (empty, or with spaces or quotes)")
                }
            }
            for argument in extraArguments where !argument.hasPrefix("-") || argument.contains("\n") {
                throw InputError(location: "--sbatch-arg", message: "'\(argument)' is not an sbatch option (e.g. --qos=short)")
            }
        }
    }

    /// The script's text.
    public let text: String
    /// The `--array` value: "0-3%2", "1,3".
    public let array: String

    /// The script running manifest lines `indices` of the sweep in `sweepDirectory` (absolute)
    /// with `executable`, `threads` compute threads per run.
    public init(sweepDirectory: String, indices: [Int], executable: String, threads: Int?, options: Options) {
        array = SlurmScript.arraySpec(indices) + (options.maxParallel.map { "%\($0)" } ?? "")
        var lines = [
            "#!/bin/bash",
            "# Switchyard sweep \(sweepDirectory): array task N runs line N of manifest.jsonl (docs/sweeps.md).",
            "#SBATCH --job-name=\(options.jobName)",
            "#SBATCH --array=\(array)",
            "#SBATCH --ntasks=1",
            "#SBATCH --cpus-per-task=\(options.cpusPerTask)",
            "#SBATCH --output=\(sweepDirectory)/logs/slurm-%A_%a.out",
            "#SBATCH --open-mode=append",
            "#SBATCH --signal=B:USR1@\(options.signalSeconds)",
            "#SBATCH --requeue",
        ]
        if let time = options.time { lines.append("#SBATCH --time=\(time)") }
        if let partition = options.partition { lines.append("#SBATCH --partition=\(partition)") }
        if let memory = options.memory { lines.append("#SBATCH --mem=\(memory)") }
        if let account = options.account { lines.append("#SBATCH --account=\(account)") }
        for argument in options.extraArguments { lines.append("#SBATCH \(argument)") }
        let threadOption = threads.map { " --threads \($0)" } ?? ""
        lines += [
            "set -u",
            "cd \(SlurmScript.quote(sweepDirectory)) || exit 1",
            "echo \"sweep task $SLURM_ARRAY_TASK_ID on $(hostname), job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}, restart ${SLURM_RESTART_COUNT:-0}\"",
            "child=",
            "trap '[ -n \"$child\" ] && kill -USR1 \"$child\" 2>/dev/null' USR1",
            "trap ':' TERM",
            "\(SlurmScript.quote(executable)) sweep task . --index \"$SLURM_ARRAY_TASK_ID\" --slurm\(threadOption) &",
            "child=$!",
            "status=0",
            "while kill -0 \"$child\" 2>/dev/null; do wait \"$child\"; status=$?; done",
            "exit \"$status\"",
        ]
        text = lines.joined(separator: "\n") + "\n"
    }

    /// "0-3", "0-2,5,7-8": the indices as Slurm's array ranges.
    public static func arraySpec(_ indices: [Int]) -> String {
        let sorted = Array(Set(indices)).sorted()
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count, sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// `text` in single quotes for bash.
    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
