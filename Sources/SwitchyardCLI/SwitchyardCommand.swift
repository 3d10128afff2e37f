import ArgumentParser
import SwitchyardNotebooks

/// The version printed by `switchyard --version`.
public let switchyardVersion = "0.1.0"

/// The root `switchyard` command.
///
/// A user's package that registers its own routers runs the same command line from its
/// own executable:
///
/// ```swift
/// import Routing
/// import SwitchyardCLI
///
/// RouterRegistry.shared.register(MyRouter.self)
/// SwitchyardCommand.main()
/// ```
public struct SwitchyardCommand: ParsableCommand {
    /// The command's help, subcommands and version.
    public static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "Train Mixture-of-Experts Vision Transformers on the CPU and measure what their routers do.",
        discussion: """
        Switchyard trains small Vision Transformers whose feed-forward layers are \
        Mixture-of-Experts layers, records which expert took which token, and answers \
        with statistics (load balance, token-expert affinity, compute heterogeneity, \
        run-to-run comparisons with confidence intervals) written as markdown reports.

        Typical session:
          switchyard routers                                 # what routers there are
          switchyard train --router expert-choice --out runs/ec
          switchyard analyze runs/ec --json runs/ec/analysis.json
          switchyard report runs/ec --out reports/ec          # markdown + SVG charts
          switchyard compare runs/sw runs/ec --out reports/sw-vs-ec
          switchyard notebook run notebook.md                # run its blocks, write their outputs
          switchyard sweep plan grid.yaml --out sweeps/grid   # many runs from one spec (docs/sweeps.md)

        Every subcommand has its own --help with examples.
        """,
        version: switchyardVersion,
        subcommands: [TrainCommand.self, EvalCommand.self, AnalyzeCommand.self, SimulateCommand.self, ReportCommand.self, CompareCommand.self,
                      NotebookCommand.self, SweepCommand.self, PresetsCommand.self, RoutersCommand.self, BenchCommand.self]
    )

    /// Creates the command; argument parsing fills it in.
    public init() {}

    /// Parses the process's arguments and runs the command; a notebook block's process first
    /// arranges to die with its notebook runner (``RunnerDeath``).
    public static func main() {
        RunnerDeath.follow()
        main(nil)
    }
}
