import Foundation

/// A command block checked against the policy and ready to run.
public struct PlannedBlock: Equatable, Sendable {
    /// The block's position among the notebook's command blocks (0-based).
    public var index: Int
    /// The 1-based line of the block's opening fence.
    public var line: Int
    /// The arguments the command receives (the subcommand first, no `switchyard`).
    public var arguments: [String]

    /// A block `index` at `line` that runs `arguments`.
    public init(index: Int, line: Int, arguments: [String]) {
        self.index = index
        self.line = line
        self.arguments = arguments
    }

    /// The command as one could type it: `switchyard` and the arguments, quoted where needed.
    public var commandText: String {
        (["switchyard"] + arguments.map(PlannedBlock.quoted)).joined(separator: " ")
    }

    private static func quoted(_ argument: String) -> String {
        let plain = !argument.isEmpty && argument.allSatisfy { c in
            c.isLetter || c.isNumber || "-_./=:,+@%".contains(c)
        }
        return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\"'\"'") + "'"
    }
}
