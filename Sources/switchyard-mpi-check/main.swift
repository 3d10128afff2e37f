import CMPI
import Glibc
import SwitchyardMPI
import SwitchyardParallelism

// switchyard-mpi-check: the test of MPICommunicator (scripts/test-expert-parallel.sh).
//
//   mpirun -np P switchyard-mpi-check              every collective against exact expected values
//   mpirun -np P switchyard-mpi-check --die-at N   rank 1 kills itself (SIGKILL) at exchange N
//   mpirun -np P switchyard-mpi-check --exit-at N  rank 1 exits with status 1 at exchange N
//   switchyard-mpi-check --misuse count|thread     a collective called wrongly must stop the
//                                                  process with a message naming the call
//   mpirun -np P switchyard-mpi-check --bandwidth B  the all-to-all rate with B bytes per pair
//
// Each rank's data depends on its rank, so every rank knows what every other rank sent. Rank 0
// prints one line per check; any mismatch on any rank ends the job with MPI_Abort (status 1).
// The fault options run a loop of exchanges in which rank 1 leaves at exchange N; the job
// must then end by itself, with Open MPI's message (the script bounds the wait).
func usage(_ message: String) -> Never {
    fputs("switchyard-mpi-check: \(message)\nusage: switchyard-mpi-check [--die-at N | --exit-at N | --misuse count|thread | --bandwidth BYTES]\n", stderr)
    exit(2)
}

var leaveAt: Int?
var killItself = false
var misuse: Misuse?
var bandwidthBytes: Int?
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    guard leaveAt == nil, misuse == nil, bandwidthBytes == nil else { usage("give one option") }
    switch option {
    case "--die-at", "--exit-at":
        guard let value = arguments.popFirst(), let n = Int(value), n >= 0 else { usage("\(option) needs an exchange number ≥ 0") }
        leaveAt = n
        killItself = option == "--die-at"
    case "--misuse":
        guard let value = arguments.popFirst(), let kind = Misuse(rawValue: value) else {
            usage("--misuse needs one of \(Misuse.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        misuse = kind
    case "--bandwidth":
        guard let value = arguments.popFirst(), let n = Int(value), n >= 4, n <= 1 << 28 else { usage("--bandwidth needs bytes per pair, 4 … 2²⁸") }
        bandwidthBytes = n
    default:
        usage("unknown argument '\(option)'")
    }
}

let comm = MPICommunicator.world()
if let bandwidthBytes {
    measureBandwidth(comm, bytes: bandwidthBytes)
} else if let misuse {
    misuse.commit(comm)
} else if let leaveAt {
    runFaultLoop(comm, leaveAt: leaveAt, kill: killItself)
} else {
    var checks = CollectiveChecks(comm)
    let failed = checks.run()
    if failed > 0 {
        if comm.rank == 0 { print("switchyard-mpi-check: \(failed) check(s) FAILED on \(comm.size) rank\(comm.size == 1 ? "" : "s")"); fflush(stdout) }
        MPI_Abort(switchyard_mpi_comm_world(), 1)
    }
    if comm.rank == 0 { print("switchyard-mpi-check: all collectives correct on \(comm.size) rank\(comm.size == 1 ? "" : "s")"); fflush(stdout) }
}
MPICommunicator.finalize()
