/// Switchyard's own routers, registered in ``RouterRegistry/shared`` in this order.
/// A router in a user's package is registered by the user instead
/// (`RouterRegistry.shared.register(MyRouter.self)`), with no change to Switchyard.
let builtinRouters: [any Router.Type] = [
    DenseRouter.self,
    RandomTokenRouter.self,
    RandomBatchRouter.self,
    NoisyTopKRouter.self,
    SwitchRouter.self,
    ExpertChoiceRouter.self,
    TopTwoRouter.self,
    LossFreeRouter.self,
    TopPRouter.self,
    SinkhornRouter.self,
    ReMoERouter.self,
    TopKRouter.self,
    HashRouter.self,
    DeepSeekMoERouter.self,
    BaseRouter.self,
    XMoERouter.self,
    SoftMoERouter.self,
]
