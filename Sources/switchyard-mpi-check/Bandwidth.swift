import Foundation
import SwitchyardParallelism

/// The all-to-all rate of this job, for `switchyard simulate --link-bandwidth`: `repetitions`
/// `MPI_Alltoallv` exchanges of `bytes` per pair of ranks after 5 untimed ones, each preceded by
/// a barrier; rank 0 prints the median time and the bytes one rank sends to the others per second.
func measureBandwidth(_ comm: any Communicator, bytes: Int, repetitions: Int = 50) {
    let n = max(1, bytes / MemoryLayout<Float>.size), p = comm.size
    let send = [Float](repeating: Float(comm.rank), count: n * p)
    var receive = [Float](repeating: 0, count: n * p)
    let offsets = (0..<p).map { $0 * n }, counts = [Int](repeating: n, count: p)
    var seconds: [Double] = []
    for i in 0..<(repetitions + 5) {
        comm.barrier()
        let start = now()
        send.withUnsafeBufferPointer { s in
            receive.withUnsafeMutableBufferPointer { r in
                comm.allToAll(s.baseAddress!, sendCounts: counts, sendOffsets: offsets,
                              receive: r.baseAddress!, receiveCounts: counts, receiveOffsets: offsets)
            }
        }
        if i >= 5 { seconds.append(now() - start) }
    }
    let all = comm.allGather(seconds.sorted()[seconds.count / 2])
    guard comm.rank == 0, let slowest = all.max() else { return }
    let sent = Double(n * MemoryLayout<Float>.size * (p - 1))
    print(String(format: "switchyard-mpi-check: all-to-all of %d bytes per pair on %d ranks: median %.3f ms (slowest rank), "
                 + "%.3f GB/s sent per rank", n * MemoryLayout<Float>.size, p, slowest * 1e3, sent / slowest / 1e9))
}
