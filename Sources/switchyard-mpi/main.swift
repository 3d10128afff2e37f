import SwitchyardCLI
import SwitchyardMPI
import SwitchyardParallelism

// The `switchyard` command line with Open MPI's communicator for `--parallel expert`
// (docs/expert-parallel.md). MPI starts only when a command asks for the communicator; it
// ends here once the command has returned (an error exits earlier, see MPICommunicator).
CommunicatorProvider.make = { MPICommunicator.world() }
CommunicatorProvider.finish = { MPICommunicator.finalize() }
SwitchyardCommand.main()
MPICommunicator.finalize()
