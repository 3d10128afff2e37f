import Foundation

/// Training progress on the terminal: a bar redrawn in place (step, loss, images/s, ETA) when
/// standard error is a terminal, plain periodic lines otherwise (logs, CI, notebooks).
public final class ProgressReporter {
    private let total: Int
    private let isTerminal: Bool
    private let quiet: Bool
    private let start = Date()
    private var lastPrint = Date.distantPast

    /// A reporter for `totalSteps` steps; `quiet` prints nothing.
    public init(totalSteps: Int, quiet: Bool = false) {
        total = max(totalSteps, 1)
        isTerminal = isatty(STDERR_FILENO) == 1
        self.quiet = quiet
    }

    /// Reports that `step` steps are done.
    public func update(step: Int, epoch: Int, loss: Float, imagesPerSecond: Double, stepsThisRun: Int) {
        if quiet { return }
        let now = Date()
        let interval: TimeInterval = isTerminal ? 0.2 : 10
        guard now.timeIntervalSince(lastPrint) >= interval || step == total else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let remaining = stepsThisRun > 0 ? elapsed / Double(stepsThisRun) * Double(total - step) : 0
        let fraction = Double(step) / Double(total)
        let stats = String(format: "step %d/%d  epoch %d  loss %.4f  %.0f img/s  ETA %@",
                           step, total, epoch, loss, imagesPerSecond, Self.duration(remaining))
        if isTerminal {
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\(bar) \(stats)\u{1B}[K".utf8))
            if step == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            FileHandle.standardError.write(Data("\(stats)\n".utf8))
        }
    }

    /// Prints a line of its own (ends a bar line first).
    public func message(_ text: String) {
        if quiet { return }
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + text + "\n").utf8))
    }

    /// Prints `warning: text` on a line of its own, even when quiet.
    public func warning(_ text: String) {
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + "warning: " + text + "\n").utf8))
    }

    /// "1h02m", "3m05s", "12s".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
