/// What one rank's expert-parallel exchanges cost, summed over the MoE layers and passes
/// measured (docs/expert-parallel.md, "Measurements").
///
/// - tokens and bytes count rows that cross to another rank (a rank's rows for its own experts
///   are copied, not sent);
/// - ``waitSeconds`` is the time in the count exchange (`MPI_Alltoall` of E/P integers per rank)
///   that opens every dispatch and return: its payload is a few bytes, so it is the wait for
///   the slowest rank to arrive;
/// - ``exchangeSeconds`` is the time in the activation exchanges (`MPI_Alltoallv`);
/// - ``expertSeconds`` is the time the rank's own experts compute, forward and backward;
/// - the `dispatched…` counts and ``expertRows`` cover the forward dispatch alone (what
///   `switchyard simulate` predicts per device: rows sent, received, and computed).
public struct ExchangeMeasurements: Sendable, Equatable, Codable {
    /// Rows this rank sent to other ranks.
    public var tokensSent = 0
    /// Rows this rank received from other ranks.
    public var tokensReceived = 0
    /// Bytes of activations and gradients this rank sent to other ranks.
    public var bytesSent = 0
    /// Bytes this rank received from other ranks.
    public var bytesReceived = 0
    /// Seconds in the activation exchanges.
    public var exchangeSeconds = 0.0
    /// Seconds waiting in the count exchanges (for the slowest rank).
    public var waitSeconds = 0.0
    /// Seconds of this rank's expert computation.
    public var expertSeconds = 0.0

    /// Rows this rank sent to other ranks' experts in forward dispatches.
    public var dispatchedRowsSent = 0
    /// Rows other ranks sent to this rank's experts in forward dispatches.
    public var dispatchedRowsReceived = 0
    /// Rows this rank's experts computed in forward passes (its own tokens' included).
    public var expertRows = 0

    /// All zero.
    public init() {}

    /// The sum of two measurements.
    public static func + (a: ExchangeMeasurements, b: ExchangeMeasurements) -> ExchangeMeasurements {
        var s = a
        s.tokensSent += b.tokensSent
        s.tokensReceived += b.tokensReceived
        s.bytesSent += b.bytesSent
        s.bytesReceived += b.bytesReceived
        s.exchangeSeconds += b.exchangeSeconds
        s.waitSeconds += b.waitSeconds
        s.expertSeconds += b.expertSeconds
        s.dispatchedRowsSent += b.dispatchedRowsSent
        s.dispatchedRowsReceived += b.dispatchedRowsReceived
        s.expertRows += b.expertRows
        return s
    }
}
