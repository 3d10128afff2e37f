/// The process's peak memory, as the kernel reports it.
public enum PeakMemory {
    /// The peak resident set size in bytes (Linux `/proc/self/status` VmHWM), or nil where the
    /// file is unavailable.
    public static func residentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return digits.map { $0 * 1024 }
        }
        return nil
    }
}
