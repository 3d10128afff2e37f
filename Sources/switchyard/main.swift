import SwitchyardCLI

// The `switchyard` executable: every command lives in the SwitchyardCLI library so that
// a user's own package can register routers and then run the same command line.
SwitchyardCommand.main()
