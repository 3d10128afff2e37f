import SwitchyardRouting

extension ViTConfiguration {
    /// The router options the model builds its routers with: ``routerOptions``, plus the model's
    /// ``tokensPerImage`` as the option `tokensPerImage` for a router that has one and was not given
    /// it (Soft MoE's slots per expert follow from it). Run summaries record these.
    public func effectiveRouterOptions(registry: RouterRegistry = .shared) -> [String: String] {
        var options = routerOptions
        if options["tokensPerImage"] == nil, registry.entry(named: router)?.optionHelp["tokensPerImage"] != nil {
            options["tokensPerImage"] = String(tokensPerImage)
        }
        return options
    }
}
