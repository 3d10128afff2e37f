import SwitchyardParallelism
import SwitchyardRouting
import SwitchyardTensorCore

/// The token dispatcher of expert parallelism: runs an MoE layer's experts where they live.
///
/// Rank r holds its tokens' plan and their gathered rows (expert-major, the order of
/// ``MoEDataMovement/dispatch(_:width:plan:into:)``), and owns experts r·E/P ..< (r+1)·E/P
/// (``ExpertShard``). Because the rows are expert-major, the rows for rank q's experts are one
/// contiguous block. The forward:
/// 1. counts: each rank sends every rank the number of its rows for each of that rank's
///    experts (`MPI_Alltoall`, E/P integers per pair);
/// 2. dispatch: the blocks go to their owners (`MPI_Alltoallv`); a rank receives source-major
///    rows, which it reorders expert-major, sources in rank order — for expert e the rows of
///    rank 0's tokens, then rank 1's, …: the order a single process with the same routing
///    groups gives its expert, so each expert's GEMMs see the same rows in the same order;
/// 3. the owned experts run on their rows;
/// 4. return: the outputs are reordered source-major and sent back (the reverse
///    `MPI_Alltoallv`), landing where the rows were gathered from; the layer combines them.
///
/// The backward sends dL/d(expert output) the same way, runs the owned experts' backward
/// (their parameter gradients accumulate only on the owner) and returns dL/d(expert input).
public final class ExpertParallelDispatcher {
    /// The job's processes.
    public let communicator: any Communicator
    /// The experts this rank owns.
    public let shard: ExpertShard
    /// What the exchanges cost since the last ``resetMeasurements()``.
    public private(set) var measurements = ExchangeMeasurements()
    /// The ranks whose auxiliary losses the step's objective averages (those holding tokens);
    /// the layer scales its router's auxiliary gradient by its inverse.
    public var auxiliaryLossRanks: Int

    private var rowsFrom: [Int] = []        // P × E/P: rows from rank s for owned expert j
    private var sendRows: [Int] = []        // per rank q: rows of this rank's tokens for q's experts
    private var sendOffsets: [Int] = []     // their first row in the gathered buffer
    private var receiveRows: [Int] = []     // per rank s: rows received from s
    private var receiveOffsets: [Int] = []
    private var received = Tensor(shape: [0])          // R × d, source-major
    private var expertInput = Tensor(shape: [0])       // R × d, expert-major (kept for backward)
    private var expertOutput = Tensor(shape: [0])      // R × d, expert-major
    private var expertGradient = Tensor(shape: [0])    // R × d, expert-major
    private var width = 0

    /// A dispatcher for rank `communicator.rank`'s share of `experts` experts; throws when the
    /// process count does not divide them.
    public init(communicator: any Communicator, experts: Int) throws {
        self.communicator = communicator
        shard = try ExpertShard(rank: communicator.rank, ranks: communicator.size, experts: experts)
        auxiliaryLossRanks = communicator.size
    }

    /// Zeroes ``measurements``.
    public func resetMeasurements() { measurements = ExchangeMeasurements() }

    /// Rows received for owned experts in the last forward.
    public var receivedRowCount: Int { receiveRows.reduce(0, +) }

    /// Runs `experts` (the layer's, all E; only the owned ones are used) on this rank's gathered
    /// rows and every other rank's rows for the owned experts; writes this rank's rows' outputs
    /// to `output` (`plan.assignmentCount` rows, gathered order).
    func forward(gathered: UnsafePointer<Float>, plan: RoutingPlan, experts: [FeedForward], width d: Int,
                 into output: UnsafeMutablePointer<Float>) {
        width = d
        exchangeCounts(plan: plan)
        let rows = receivedRowCount, me = shard.rank
        measurements.dispatchedRowsSent += sendRows.enumerated().reduce(0) { $0 + ($1.offset == me ? 0 : $1.element) }
        measurements.dispatchedRowsReceived += receiveRows.enumerated().reduce(0) { $0 + ($1.offset == me ? 0 : $1.element) }
        measurements.expertRows += rows
        ensureCapacity(rows: rows, width: d)
        exchange(gathered, counts: sendRows, offsets: sendOffsets, into: received.pointer, counts: receiveRows,
                 offsets: receiveOffsets)
        reorder(received.pointer, into: expertInput.pointer, toExpertMajor: true)
        let start = monotonicSeconds()
        var offset = 0
        for j in 0..<shard.perRank {
            let m = rowsOfOwnedExpert(j)
            if m > 0 {
                experts[shard.owned.lowerBound + j].forward(expertInput.pointer + offset * d, rows: m,
                                                             into: expertOutput.pointer + offset * d)
            }
            offset += m
        }
        measurements.expertSeconds += monotonicSeconds() - start
        reorder(expertOutput.pointer, into: received.pointer, toExpertMajor: false)
        waitForCounts()
        exchange(received.pointer, counts: receiveRows, offsets: receiveOffsets, into: output, counts: sendRows,
                 offsets: sendOffsets)
    }

    /// The backward of the last ``forward(gathered:plan:experts:width:into:)``: `dOutput` is
    /// dL/d(output) of this rank's rows; writes dL/d(gathered) into `dGathered` and accumulates
    /// the owned experts' parameter gradients.
    func backward(dOutput: UnsafePointer<Float>, experts: [FeedForward], into dGathered: UnsafeMutablePointer<Float>) {
        let d = width
        waitForCounts()
        exchange(dOutput, counts: sendRows, offsets: sendOffsets, into: received.pointer, counts: receiveRows,
                 offsets: receiveOffsets)
        reorder(received.pointer, into: expertGradient.pointer, toExpertMajor: true)
        let start = monotonicSeconds()
        var offset = 0
        for j in 0..<shard.perRank {
            let m = rowsOfOwnedExpert(j)
            if m > 0 {
                // The expert's input gradient goes to expertOutput, free since the forward.
                experts[shard.owned.lowerBound + j].backward(dOutput: expertGradient.pointer + offset * d,
                                                              input: expertInput.pointer + offset * d, rows: m,
                                                              dInput: expertOutput.pointer + offset * d)
            }
            offset += m
        }
        measurements.expertSeconds += monotonicSeconds() - start
        reorder(expertOutput.pointer, into: received.pointer, toExpertMajor: false)
        waitForCounts()
        exchange(received.pointer, counts: receiveRows, offsets: receiveOffsets, into: dGathered, counts: sendRows,
                 offsets: sendOffsets)
    }

    // MARK: Steps

    /// Step 1: rows per (source rank, owned expert), and the send and receive blocks.
    private func exchangeCounts(plan: RoutingPlan) {
        let p = shard.ranks, l = shard.perRank
        let mine = (0..<shard.experts).map { Int64(plan.range(ofExpert: $0).count) }
        var theirs = [Int64](repeating: 0, count: p * l)
        let start = monotonicSeconds()
        mine.withUnsafeBufferPointer { m in
            theirs.withUnsafeMutableBufferPointer { communicator.allToAll(m.baseAddress!, count: l, receive: $0.baseAddress!) }
        }
        measurements.waitSeconds += monotonicSeconds() - start
        rowsFrom = theirs.map(Int.init)
        sendRows = (0..<p).map { q in shard.experts(ofRank: q).reduce(0) { $0 + Int(mine[$1]) } }
        sendOffsets = (0..<p).map { plan.range(ofExpert: shard.experts(ofRank: $0).lowerBound).lowerBound }
        receiveRows = (0..<p).map { s in (0..<l).reduce(0) { $0 + rowsFrom[s * l + $1] } }
        var offset = 0
        receiveOffsets = receiveRows.map { rows in
            defer { offset += rows }
            return offset
        }
    }

    /// The backward's and the return's synchronisation: the same counts, so only the wait is
    /// measured (a one-integer all-to-all).
    private func waitForCounts() {
        var one = [Int64](repeating: 0, count: shard.ranks), back = one
        let start = monotonicSeconds()
        one.withUnsafeMutableBufferPointer { o in
            back.withUnsafeMutableBufferPointer { communicator.allToAll(UnsafePointer(o.baseAddress!), count: 1, receive: $0.baseAddress!) }
        }
        measurements.waitSeconds += monotonicSeconds() - start
    }

    private func rowsOfOwnedExpert(_ j: Int) -> Int {
        (0..<shard.ranks).reduce(0) { $0 + rowsFrom[$1 * shard.perRank + j] }
    }

    /// One `MPI_Alltoallv` of rows; counts the rows that cross ranks.
    private func exchange(_ send: UnsafePointer<Float>, counts sc: [Int], offsets so: [Int],
                          into receive: UnsafeMutablePointer<Float>, counts rc: [Int], offsets ro: [Int]) {
        let d = width, me = shard.rank
        let start = monotonicSeconds()
        communicator.allToAll(send, sendCounts: sc.map { $0 * d }, sendOffsets: so.map { $0 * d },
                              receive: receive, receiveCounts: rc.map { $0 * d }, receiveOffsets: ro.map { $0 * d })
        measurements.exchangeSeconds += monotonicSeconds() - start
        let sent = sc.enumerated().reduce(0) { $0 + ($1.offset == me ? 0 : $1.element) }
        let got = rc.enumerated().reduce(0) { $0 + ($1.offset == me ? 0 : $1.element) }
        measurements.tokensSent += sent
        measurements.tokensReceived += got
        measurements.bytesSent += sent * d * MemoryLayout<Float>.size
        measurements.bytesReceived += got * d * MemoryLayout<Float>.size
    }

    /// Source-major ⇄ expert-major (sources in rank order within each expert).
    private func reorder(_ from: UnsafePointer<Float>, into to: UnsafeMutablePointer<Float>, toExpertMajor: Bool) {
        let p = shard.ranks, l = shard.perRank, d = width
        var expertStart = [Int](repeating: 0, count: l)
        var running = 0
        for j in 0..<l { expertStart[j] = running; running += rowsOfOwnedExpert(j) }
        var withinExpert = expertStart
        for s in 0..<p {
            var sourceRow = receiveOffsets[s]
            for j in 0..<l {
                let m = rowsFrom[s * l + j]
                if m > 0 {
                    let a = sourceRow * d, b = withinExpert[j] * d
                    if toExpertMajor { (to + b).update(from: from + a, count: m * d) }
                    else { (to + a).update(from: from + b, count: m * d) }
                }
                sourceRow += m
                withinExpert[j] += m
            }
        }
    }

    private func ensureCapacity(rows: Int, width d: Int) {
        guard received.count < rows * d else { return }
        let n = max(rows, received.count / max(d, 1) * 5 / 4) * d
        received = Tensor(shape: [n])
        expertInput = Tensor(shape: [n])
        expertOutput = Tensor(shape: [n])
        expertGradient = Tensor(shape: [n])
    }
}
