import SwitchyardFileIO
import SwitchyardTraces

/// The steps of expert-parallel dispatch a trace is cut into: each routing group (the tokens
/// the routers saw at once) is one all-to-all step, its tokens shared over the devices as a
/// data-parallel batch.
public struct DispatchGroups: Equatable, Sendable {
    /// Where the groups came from.
    public enum Source: String, Codable, Sendable {
        /// The trace's recorded `routingGroups`.
        case trace
        /// `--group-tokens N`: consecutive runs of N tokens (the last may be shorter).
        case groupTokens = "group-tokens"
        /// The trace has none and none were asked for: the whole trace is one step.
        case wholeTrace = "whole-trace"
    }

    /// Token offsets: group g holds tokens `starts[g] ..< starts[g + 1]`.
    public var starts: [Int]
    /// Where the groups came from.
    public var source: Source

    /// The number of groups.
    public var count: Int { starts.count - 1 }

    /// Group g's token range.
    public func tokens(_ g: Int) -> Range<Int> { starts[g] ..< starts[g + 1] }

    /// The groups of `trace`: runs of `groupTokens` tokens when given, else the trace's own
    /// routing groups, else one group of every token.
    public init(_ trace: RoutingTrace, groupTokens: Int? = nil) throws {
        if let groupTokens {
            guard groupTokens >= 1 else {
                throw InputError(location: "--group-tokens", message: "must be ≥ 1, got \(groupTokens)")
            }
            starts = Array(stride(from: 0, to: trace.tokenCount, by: groupTokens)) + [trace.tokenCount]
            source = .groupTokens
        } else if let sizes = trace.routingGroups, !sizes.isEmpty {
            var s = [0]
            s.reserveCapacity(sizes.count + 1)
            for size in sizes { s.append(s[s.count - 1] + size) }
            starts = s
            source = .trace
        } else {
            starts = [0, trace.tokenCount]
            source = .wholeTrace
        }
    }

    /// The device that holds the `local`-th token of a group of `size` tokens when the group
    /// is split over `devices` devices as a data-parallel batch: device r holds local tokens
    /// `⌊r·size/devices⌋ ..< ⌊(r+1)·size/devices⌋` (contiguous shares whose sizes differ by at
    /// most one; with fewer tokens than devices some devices hold none).
    @inlinable
    public static func sourceDevice(local: Int, size: Int, devices: Int) -> Int {
        ((local + 1) * devices - 1) / size
    }
}
