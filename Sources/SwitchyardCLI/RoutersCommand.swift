import ArgumentParser
import SwitchyardRouting

/// `switchyard routers`: every registered router with its hyperparameters and defaults.
struct RoutersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routers",
        abstract: "List the registered routers with their hyperparameters and defaults.",
        discussion: """
        Any hyperparameter can be set for a run with --router-option NAME=VALUE, e.g.
          switchyard train --router switch --router-option trainingCapacityFactor=1.0

        Routers from your own package appear here once your executable registers them
        (see docs/custom-router.md).
        """
    )

    @Option(name: .long, help: "Show only this router.")
    var name: String?

    func run() throws {
        let registry = RouterRegistry.shared
        var entries = registry.all
        if let name {
            guard let entry = registry.entry(named: name) else {
                throw ValidationError("no router named '\(name)'; registered: \(entries.map(\.name).joined(separator: ", "))")
            }
            entries = [entry]
        }
        for (i, entry) in entries.enumerated() {
            if i > 0 { print("") }
            print("\(entry.name)\n  \(entry.summary)")
            // Traits and state of the router with its defaults, for 8 experts.
            if let described = try? registry.describe(name: entry.name, expertCount: 8) {
                print("  traits: \(described.traits.summary)")
                if !described.state.isEmpty {
                    let state = described.state.map { "\($0.name) (\($0.count) values at E = 8)" }.joined(separator: ", ")
                    print("  state (not trained, checkpointed): \(state)")
                }
            }
            if entry.defaults.isEmpty {
                print("  (no hyperparameters)")
                continue
            }
            let keyWidth = entry.defaults.map(\.key.count).max() ?? 0
            let valueWidth = entry.defaults.map(\.value.count).max() ?? 0
            for (key, value) in entry.defaults {
                let help = entry.optionHelp[key] ?? ""
                let paddedKey = key.padding(toLength: keyWidth, withPad: " ", startingAt: 0)
                let paddedValue = value.padding(toLength: valueWidth, withPad: " ", startingAt: 0)
                print("  \(paddedKey)  \(paddedValue)  \(help)")
            }
        }
    }
}
