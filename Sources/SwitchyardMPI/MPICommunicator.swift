import CMPI
import Glibc
import SwitchyardParallelism

/// SwitchyardParallelism's ``Communicator`` over Open MPI's `MPI_COMM_WORLD`: the P processes
/// `mpirun -np P` (or `srun --mpi=pmix`) started. Launched without either, Open MPI runs the
/// program as a job of one process (a singleton, P = 1).
///
/// Threads: MPI is initialised with `MPI_THREAD_FUNNELED`, so only the thread that first calls
/// ``world()`` (the main thread in `switchyard-mpi`) may call a collective; the compute threads
/// never do, and each collective checks it.
///
/// Errors: `MPI_COMM_WORLD` keeps MPI's default handler `MPI_ERRORS_ARE_FATAL`, so a collective
/// either completes or ends the whole job with Open MPI's own message (a rank that died, a
/// transport failure); no call returns an error code. Misuse stops the process with a message
/// naming the MPI call: a count or offset outside MPI's `int` (0 ... 2,147,483,647 elements),
/// per-rank arrays of the wrong length, a root that is no rank, a call from another thread.
///
/// Exit: ``finalize()`` ends MPI after the last collective. A process that exits with MPI
/// still running (an error that ends the command, a call to `exit`) ends the whole job with
/// `MPI_Abort`: `MPI_Finalize` would wait forever for ranks blocked in a collective that this
/// one will never join. A job of one process just finalises.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let world = switchyard_mpi_comm_world()

    /// The communicator of all the job's processes; the first call initialises MPI.
    public static func world() -> MPICommunicator { shared }

    private static let shared = MPICommunicator()

    private init() {
        var initialised: Int32 = 0
        MPI_Initialized(&initialised)
        require(initialised == 0, "MPICommunicator: MPI was initialised by someone else")
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        require(provided >= Int32(MPI_THREAD_FUNNELED),
                     "MPICommunicator: this MPI library gives thread level \(provided), below MPI_THREAD_FUNNELED")
        atexit(endAtExit)
        var r: Int32 = 0, p: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &p)
        rank = Int(r)
        size = Int(p)
    }

    /// Ends MPI (`MPI_Finalize`) once every collective is done; nothing when MPI was never
    /// initialised or is already finalised. Every rank calls it; it returns when all have.
    public static func finalize() {
        guard isRunning else { return }
        MPI_Finalize()
    }

    /// MPI is initialised and not finalised.
    static var isRunning: Bool {
        var initialised: Int32 = 0, finalised: Int32 = 0
        MPI_Initialized(&initialised)
        MPI_Finalized(&finalised)
        return initialised != 0 && finalised == 0
    }

    public func allGather(_ values: UnsafePointer<Float>, count: Int, into received: UnsafeMutablePointer<Float>) {
        let n = mpiCount(count, "count", "MPI_Allgather")
        MPI_Allgather(values, n, switchyard_mpi_float(), received, n, switchyard_mpi_float(), world)
    }

    public func allGather(_ values: UnsafePointer<Int64>, count: Int, into received: UnsafeMutablePointer<Int64>) {
        let n = mpiCount(count, "count", "MPI_Allgather")
        MPI_Allgather(values, n, switchyard_mpi_int64(), received, n, switchyard_mpi_int64(), world)
    }

    public func allGather(_ values: UnsafePointer<Double>, count: Int, into received: UnsafeMutablePointer<Double>) {
        let n = mpiCount(count, "count", "MPI_Allgather")
        MPI_Allgather(values, n, switchyard_mpi_double(), received, n, switchyard_mpi_double(), world)
    }

    public func allToAll(_ send: UnsafePointer<Float>, sendCounts: [Int], sendOffsets: [Int],
                         receive: UnsafeMutablePointer<Float>, receiveCounts: [Int], receiveOffsets: [Int]) {
        let call = "MPI_Alltoallv"
        let sc = perRank(sendCounts, "sendCounts", call), so = perRank(sendOffsets, "sendOffsets", call)
        let rc = perRank(receiveCounts, "receiveCounts", call), ro = perRank(receiveOffsets, "receiveOffsets", call)
        MPI_Alltoallv(send, sc, so, switchyard_mpi_float(), receive, rc, ro, switchyard_mpi_float(), world)
    }

    public func allToAll(_ send: UnsafePointer<Int64>, count: Int, receive: UnsafeMutablePointer<Int64>) {
        let n = mpiCount(count, "count", "MPI_Alltoall")
        MPI_Alltoall(send, n, switchyard_mpi_int64(), receive, n, switchyard_mpi_int64(), world)
    }

    public func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, root: Int) {
        let n = mpiCount(count, "count", "MPI_Bcast")
        require((0..<size).contains(root), "MPI_Bcast: root \(root) is not a rank of 0 ..< \(size)")
        MPI_Bcast(values, n, switchyard_mpi_float(), Int32(root), world)
    }

    public func barrier() {
        onMPIThread("MPI_Barrier")
        MPI_Barrier(world)
    }

    /// `value` as MPI's count type, checked, on the thread that initialised MPI.
    private func mpiCount(_ value: Int, _ name: String, _ call: String) -> Int32 {
        onMPIThread(call)
        require(value >= 0 && value <= Int(Int32.max),
                     "\(call): \(name) \(value) is outside MPI's count range 0 ... 2,147,483,647 elements (an int)")
        return Int32(value)
    }

    /// One count or offset per rank, as MPI's count type, checked.
    private func perRank(_ values: [Int], _ name: String, _ call: String) -> [Int32] {
        require(values.count == size, "\(call): \(name) has \(values.count) entries for \(size) ranks")
        onMPIThread(call)
        return values.map { v in
            require(v >= 0 && v <= Int(Int32.max),
                         "\(call): \(name) value \(v) is outside MPI's count range 0 ... 2,147,483,647 elements (an int)")
            return Int32(v)
        }
    }

    private func onMPIThread(_ call: String) {
        var main: Int32 = 0
        MPI_Is_thread_main(&main)
        require(main != 0, "\(call): called from a thread other than the one that initialised MPI (MPI_THREAD_FUNNELED)")
    }
}

/// Stops the process with `message` when `condition` is false. Unlike `precondition`, whose
/// message an optimised build drops, it prints the message (then mpirun ends the job).
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

/// At exit with MPI still running: a job of one process finalises; in a larger job this rank
/// leaves before the others, which `MPI_Abort` tells them (see ``MPICommunicator``).
private func endAtExit() {
    guard MPICommunicator.isRunning else { return }
    var size: Int32 = 1, rank: Int32 = 0
    MPI_Comm_size(switchyard_mpi_comm_world(), &size)
    MPI_Comm_rank(switchyard_mpi_comm_world(), &rank)
    if size == 1 {
        MPI_Finalize()
    } else {
        let program = CommandLine.arguments.first?.split(separator: "/").last.map(String.init) ?? "switchyard-mpi"
        fputs("\(program): rank \(rank) of \(size) exits before the end of the job; ending the job (MPI_Abort) so that the others do not wait for it\n", stderr)
        MPI_Abort(switchyard_mpi_comm_world(), 1)
    }
}
