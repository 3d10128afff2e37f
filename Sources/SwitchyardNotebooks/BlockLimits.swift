/// How long a block's command may run and how much it may print before it is stopped (its
/// whole process group killed) and the notebook run fails, leaving the notebook as it was.
public struct BlockLimits: Sendable, Equatable {
    /// Seconds a block may run; 0 = no limit. Default one hour.
    public var seconds: Double
    /// Bytes a block may print on standard output (what goes into the notebook); 0 = no
    /// limit. Default 1 MiB. Standard error is not limited; its last 64 KiB are kept.
    public var outputBytes: Int

    /// Limits of `seconds` and `outputBytes`.
    public init(seconds: Double = 3600, outputBytes: Int = 1 << 20) {
        self.seconds = seconds
        self.outputBytes = outputBytes
    }
}

/// A block's command stopped for exceeding a ``BlockLimits`` limit.
public struct BlockLimitExceeded: Error, CustomStringConvertible, Equatable, Sendable {
    /// Which limit.
    public enum Limit: Equatable, Sendable {
        /// It ran longer than this many seconds.
        case seconds(Double)
        /// It printed more than this many bytes on standard output.
        case outputBytes(Int)
    }

    /// The limit exceeded.
    public var limit: Limit

    /// A command that exceeded `limit`.
    public init(limit: Limit) { self.limit = limit }

    public var description: String {
        switch limit {
        case .seconds(let s):
            return "was stopped after \(s.formatted()) s, the time a block may run (--block-timeout); its process group was killed"
        case .outputBytes(let n):
            return "was stopped after printing more than \(n) bytes, what a block may print into the notebook (--max-output); its process group was killed"
        }
    }
}

extension Double {
    fileprivate func formatted() -> String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
