/// Where the CLI finds the transport for `--parallel expert`: nil in the plain `switchyard`
/// build; the `switchyard-mpi` executable sets it to Open MPI's before it runs the command line.
public enum CommunicatorProvider {
    /// Makes (once, at the first call) the job's communicator, or nil when this executable has
    /// no transport.
    nonisolated(unsafe) public static var make: (() throws -> any Communicator)?
    /// Ends the transport when every process stops early by agreement (an interrupted run),
    /// so that the job ends with the command's own exit status; nil in the plain build.
    nonisolated(unsafe) public static var finish: (() -> Void)?
}
