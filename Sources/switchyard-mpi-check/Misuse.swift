import Foundation
import SwitchyardParallelism

/// Collectives called wrongly: each must stop the process with a message naming the MPI call,
/// before MPI sees the call.
enum Misuse: String, CaseIterable {
    /// An Alltoallv count beyond MPI's int (2³¹ floats: never sent, the check comes first).
    case count
    /// A collective from a thread other than the one that initialised MPI.
    case thread

    func commit(_ comm: any Communicator) -> Never {
        var sent: Float = 0, received: Float = 0
        switch self {
        case .count:
            var counts = [Int](repeating: 0, count: comm.size)
            counts[comm.rank] = Int(Int32.max) + 1
            comm.allToAll(&sent, sendCounts: counts, sendOffsets: [Int](repeating: 0, count: comm.size),
                          receive: &received, receiveCounts: counts, receiveOffsets: [Int](repeating: 0, count: comm.size))
        case .thread:
            let done = DispatchSemaphore(value: 0)
            Thread { comm.barrier(); done.signal() }.start()
            done.wait()
        }
        fputs("switchyard-mpi-check: --misuse \(rawValue) was not stopped\n", stderr)
        exit(3)
    }
}
