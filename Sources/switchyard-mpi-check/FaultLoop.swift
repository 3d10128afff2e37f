import Foundation
import SwitchyardParallelism

/// Exchanges like a training step's (an all-to-all, a sum) until exchange `leaveAt`, where
/// rank 1 leaves the job: `kill` raises SIGKILL on itself (a crashed or OOM-killed process),
/// otherwise it exits with status 1 (an error that ends the command). The other ranks are then
/// blocked in the exchange; the job must end by itself. Never returns on two or more ranks.
func runFaultLoop(_ comm: any Communicator, leaveAt: Int, kill: Bool) {
    guard comm.size >= 2 else {
        fputs("switchyard-mpi-check: a fault needs at least 2 ranks (rank 1 leaves); this job has 1\n", stderr)
        exit(2)
    }
    fputs("switchyard-mpi-check: rank \(comm.rank) pid \(getpid())\n", stderr)
    let n = 4096, p = comm.size
    let send = [Float](repeating: Float(comm.rank), count: n * p)
    var receive = [Float](repeating: 0, count: n * p)
    var sums = [Float](repeating: 1, count: n)
    let offsets = (0..<p).map { $0 * n }, counts = [Int](repeating: n, count: p)
    for exchange in 0... {
        if comm.rank == 1 && exchange == leaveAt {
            fputs("switchyard-mpi-check: rank 1 \(kill ? "raises SIGKILL" : "exits with status 1") at exchange \(exchange), time \(String(format: "%.3f", now()))\n", stderr)
            if kill { raise(SIGKILL) } else { exit(1) }
        }
        send.withUnsafeBufferPointer { s in
            receive.withUnsafeMutableBufferPointer { r in
                comm.allToAll(s.baseAddress!, sendCounts: counts, sendOffsets: offsets,
                              receive: r.baseAddress!, receiveCounts: counts, receiveOffsets: offsets)
            }
        }
        sums.withUnsafeMutableBufferPointer { comm.allReduceSum($0.baseAddress!, count: n) }
        if exchange > leaveAt + 100_000 { break }
    }
    fputs("switchyard-mpi-check: rank \(comm.rank) went on after rank 1 left\n", stderr)
    exit(3)
}
