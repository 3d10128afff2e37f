/// The collective operations expert-parallel training needs, over the P processes of one job
/// (MPI's `MPI_COMM_WORLD`). Switchyard's plain build has only ``SingleProcess`` (P = 1); the
/// `switchyard-mpi` executable (built with SWITCHYARD_MPI=1, docs/expert-parallel.md) provides Open MPI's.
///
/// Every call is collective: all P processes make it, in the same order, with matching sizes.
/// A failure of the transport (a rank that died) ends the job with the transport's own error;
/// no call returns a partial result.
public protocol Communicator: AnyObject {
    /// This process's rank r, 0 ..< ``size``.
    var rank: Int { get }
    /// The number of processes P.
    var size: Int { get }
    /// Every rank receives every rank's `count` values, rank-major: `received[s·count + i]` is
    /// rank s's `values[i]` (`MPI_Allgather`).
    func allGather(_ values: UnsafePointer<Float>, count: Int, into received: UnsafeMutablePointer<Float>)
    /// The same for 64-bit integers.
    func allGather(_ values: UnsafePointer<Int64>, count: Int, into received: UnsafeMutablePointer<Int64>)
    /// The same for doubles.
    func allGather(_ values: UnsafePointer<Double>, count: Int, into received: UnsafeMutablePointer<Double>)
    /// Rank s sends `sendCounts[r]` values from `send + sendOffsets[r]` to every rank r and
    /// receives `receiveCounts[s]` values at `receive + receiveOffsets[s]` (`MPI_Alltoallv`).
    func allToAll(_ send: UnsafePointer<Float>, sendCounts: [Int], sendOffsets: [Int],
                  receive: UnsafeMutablePointer<Float>, receiveCounts: [Int], receiveOffsets: [Int])
    /// Rank s sends `count` integers `send[r·count ..< (r+1)·count]` to rank r and receives rank
    /// r's at `receive[r·count ...]` (`MPI_Alltoall`).
    func allToAll(_ send: UnsafePointer<Int64>, count: Int, receive: UnsafeMutablePointer<Int64>)
    /// `root`'s `count` values overwrite every other rank's (`MPI_Bcast`).
    func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, root: Int)
    /// Waits until every rank has called it (`MPI_Barrier`).
    func barrier()
}

extension Communicator {
    /// The sum over ranks of `count` floats, in place, added in rank order 0, 1, …, P−1 on every
    /// rank — the same bits on all ranks and from run to run, whatever the transport's reduction
    /// algorithm (an all-gather and a local sum; P·count values of memory).
    public func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard size > 1, count > 0 else { return }
        let all = UnsafeMutablePointer<Float>.allocate(capacity: count * size)
        defer { all.deallocate() }
        allGather(values, count: count, into: all)
        for i in 0..<count {
            var s = all[i]
            for r in 1..<size { s += all[r * count + i] }
            values[i] = s
        }
    }

    /// The sum over ranks of integers, in place.
    public func allReduceSum(_ values: inout [Int]) {
        guard size > 1, !values.isEmpty else { return }
        let local = values.map(Int64.init)
        var all = [Int64](repeating: 0, count: values.count * size)
        local.withUnsafeBufferPointer { l in all.withUnsafeMutableBufferPointer { allGather(l.baseAddress!, count: l.count, into: $0.baseAddress!) } }
        for i in values.indices { values[i] = (0..<size).reduce(0) { $0 + Int(all[$1 * values.count + i]) } }
    }

    /// The sum over ranks of doubles, in rank order, in place.
    public func allReduceSum(_ values: inout [Double]) {
        guard size > 1, !values.isEmpty else { return }
        var all = [Double](repeating: 0, count: values.count * size)
        values.withUnsafeBufferPointer { l in all.withUnsafeMutableBufferPointer { allGather(l.baseAddress!, count: l.count, into: $0.baseAddress!) } }
        for i in values.indices {
            var s = all[i]
            for r in 1..<size { s += all[r * values.count + i] }
            values[i] = s
        }
    }

    /// Every rank's value of one number, rank-major.
    public func allGather(_ value: Double) -> [Double] {
        var mine = value
        var all = [Double](repeating: 0, count: size)
        all.withUnsafeMutableBufferPointer { allGather(&mine, count: 1, into: $0.baseAddress!) }
        return all
    }
}

/// The communicator of a job of one process: every collective is the identity.
public final class SingleProcess: Communicator {
    /// The one process.
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allGather(_ values: UnsafePointer<Float>, count: Int, into received: UnsafeMutablePointer<Float>) {
        received.update(from: values, count: count)
    }
    public func allGather(_ values: UnsafePointer<Int64>, count: Int, into received: UnsafeMutablePointer<Int64>) {
        received.update(from: values, count: count)
    }
    public func allGather(_ values: UnsafePointer<Double>, count: Int, into received: UnsafeMutablePointer<Double>) {
        received.update(from: values, count: count)
    }
    public func allToAll(_ send: UnsafePointer<Float>, sendCounts: [Int], sendOffsets: [Int],
                         receive: UnsafeMutablePointer<Float>, receiveCounts: [Int], receiveOffsets: [Int]) {
        precondition(sendCounts == receiveCounts, "one process sends itself what it receives")
        (receive + receiveOffsets[0]).update(from: send + sendOffsets[0], count: sendCounts[0])
    }
    public func allToAll(_ send: UnsafePointer<Int64>, count: Int, receive: UnsafeMutablePointer<Int64>) {
        receive.update(from: send, count: count)
    }
    public func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, root: Int) {}
    public func barrier() {}
}
