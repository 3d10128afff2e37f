import SwitchyardRouting
import SwitchyardCLI

// Register the new routers, then run Switchyard's command line: `my-switchyard routers` lists
// them, and `my-switchyard train --router learned-top-k --out runs/topk` trains with one.
RouterRegistry.shared.register(LearnedTopKRouter.self)
RouterRegistry.shared.register(BiasBalancedRouter.self)
RouterRegistry.shared.register(PositionHashRouter.self)
SwitchyardCommand.main()
