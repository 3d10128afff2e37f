import SwitchyardRouting
import SwitchyardCLI

// Register the new router, then run Switchyard's command line: `my-switchyard routers` lists
// `hash`, and `my-switchyard train --router hash --out runs/hash` trains with it.
RouterRegistry.shared.register(HashRouter.self)
SwitchyardCommand.main()
