/// How a notebook may run a subcommand that has subcommands of its own (`sweep plan`,
/// `sweep run`): which second words it may use, which of them write the directories their
/// positional arguments name, and which option values it may not be given.
public struct NestedSubcommandRule: Sendable {
    /// What a second word's positional paths are: read (checked like any argument) or written
    /// (they must lie in a writable directory, like `--out`).
    public enum Positionals: Sendable { case read, written }

    /// Second word → what its positional paths are.
    public let allowed: [String: Positionals]
    /// Option → values refused with it (`--executor` → `slurm`), given as `--option value` or
    /// `--option=value`, with the reason shown.
    public let refusedValues: [String: (values: Set<String>, reason: String)]

    public init(allowed: [String: Positionals], refusedValues: [String: (values: Set<String>, reason: String)] = [:]) {
        self.allowed = allowed
        self.refusedValues = refusedValues
    }
}
