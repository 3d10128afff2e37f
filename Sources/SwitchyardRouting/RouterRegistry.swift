import SwitchyardFileIO
import Foundation
import SwitchyardTensorCore

/// Maps router names to router types, so that the CLI, presets and notebooks can build
/// any registered router by name, including routers defined in a user's own package.
///
/// Switchyard's own routers are registered when ``shared`` is first used. A user's
/// package registers its routers before running the command line:
///
/// ```swift
/// RouterRegistry.shared.register(MyRouter.self)
/// SwitchyardCommand.main()
/// ```
public final class RouterRegistry: @unchecked Sendable {
    /// A registered router: its name, summary, default options and a factory.
    public struct Entry: Sendable {
        /// The router's name.
        public let name: String
        /// One sentence about the router.
        public let summary: String
        /// The default hyperparameters as (key, JSON value) pairs, sorted by key.
        public let defaults: [(key: String, value: String)]
        /// Help per hyperparameter.
        public let optionHelp: [String: String]
        /// The options that make the router send each token to k experts of E, or nil (see
        /// ``Router/options(expertsPerToken:experts:)``).
        public let optionsForExpertsPerToken: @Sendable (_ k: Int, _ experts: Int) -> [String: String]?
        let make: @Sendable ([String: String], Int, Int, inout SeededRNG) throws -> any Router
        let resolve: @Sendable ([String: String], Int) throws -> [(key: String, value: String)]
    }

    /// The registry the CLI uses, with Switchyard's routers already in it.
    public static let shared: RouterRegistry = {
        let registry = RouterRegistry()
        for type in builtinRouters { registry.register(type) }
        return registry
    }()

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    /// An empty registry (tests); the CLI uses ``shared``.
    public init() {}

    /// Registers `type` under its ``Router/name``, replacing a router of the same name.
    public func register<R: Router>(_ type: R.Type) {
        let entry = Entry(
            name: R.name, summary: R.summary,
            defaults: Self.fields(of: R.Configuration()),
            optionHelp: R.Configuration.optionHelp,
            optionsForExpertsPerToken: { k, e in R.options(expertsPerToken: k, experts: e) },
            make: { options, width, experts, rng in
                let configuration: R.Configuration = try Self.configuration(R.self, options: options, expertCount: experts)
                return R(configuration: configuration, modelWidth: width, expertCount: experts, rng: &rng)
            },
            resolve: { options, experts in
                Self.fields(of: try Self.configuration(R.self, options: options, expertCount: experts))
            })
        lock.lock(); defer { lock.unlock() }
        if entries[R.name] == nil { order.append(R.name) }
        entries[R.name] = entry
    }

    /// The registered routers in registration order.
    public var all: [Entry] {
        lock.lock(); defer { lock.unlock() }
        return order.compactMap { entries[$0] }
    }

    /// The entry for `name`, or nil.
    public func entry(named name: String) -> Entry? {
        lock.lock(); defer { lock.unlock() }
        return entries[name]
    }

    /// Builds the router `name` with `options` (hyperparameter name → value as text)
    /// overriding its defaults. Unknown names, unknown options and bad values throw
    /// errors that say what is allowed.
    public func makeRouter(name: String, options: [String: String] = [:], modelWidth: Int,
                           expertCount: Int, rng: inout SeededRNG) throws -> any Router {
        guard let entry = entry(named: name) else { throw unknown(name) }
        return try entry.make(options, modelWidth, expertCount, &rng)
    }

    /// The traits and the state (name, number of values) of router `name` with `options` for
    /// `expertCount` experts, read from an instance built for a small width.
    public func describe(name: String, options: [String: String] = [:], expertCount: Int) throws
        -> (traits: RouterTraits, state: [(name: String, count: Int)]) {
        var rng = SeededRNG(seed: 0)
        let router = try makeRouter(name: name, options: options, modelWidth: 8, expertCount: expertCount, rng: &rng)
        return (router.traits, router.state.map { ($0.name, $0.count) })
    }

    /// The full, validated hyperparameters `name` would use with `options`, as (key,
    /// JSON value) pairs: what run configurations record.
    public func resolvedOptions(name: String, options: [String: String], expertCount: Int) throws
        -> [(key: String, value: String)] {
        guard let entry = entry(named: name) else { throw unknown(name) }
        return try entry.resolve(options, expertCount)
    }

    private func unknown(_ name: String) -> RouterConfigurationError {
        RouterConfigurationError(router: name, field: "name", value: name,
                                 allowed: "one of: " + all.map(\.name).joined(separator: ", "))
    }

    // MARK: Options

    /// The defaults overlaid with `options`, validated.
    static func configuration<R: Router>(_: R.Type, options: [String: String], expertCount: Int) throws
        -> R.Configuration {
        let overrides = options.keys.sorted().map { (path: $0, text: options[$0]!) }
        let configuration: R.Configuration
        do {
            configuration = try JSONOverrides.apply(overrides, to: R.Configuration(), what: "router \(R.name)")
        } catch let error as InputError {
            // An unknown option has no value worth repeating: "router switch: unknown option 'foo'; …".
            if let unknown = overrides.first(where: { R.Configuration.optionHelp[$0.path] == nil }) {
                throw RouterConfigurationError(router: R.name, field: unknown.path, value: "", allowed: error.message)
            }
            // A value the message names is the one at fault (not the others given with it, such as a
            // model-supplied tokensPerImage).
            if let named = overrides.first(where: { error.message.hasPrefix("\($0.path) = ") }) {
                throw RouterConfigurationError(router: R.name, field: named.path, value: named.text, allowed: error.message)
            }
            throw RouterConfigurationError(router: R.name, field: overrides.map(\.path).joined(separator: ", "),
                                           value: overrides.map(\.text).joined(separator: ", "),
                                           allowed: error.message)
        }
        try configuration.validate(expertCount: expertCount)
        return configuration
    }

    /// A configuration's fields as (key, JSON value) pairs sorted by key.
    static func fields<C: Encodable>(of configuration: C) -> [(key: String, value: String)] {
        JSONOverrides.fields(of: configuration)
    }
}
