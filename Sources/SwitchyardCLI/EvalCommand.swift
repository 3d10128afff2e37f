import ArgumentParser
import SwitchyardFileIO
import Foundation
import SwitchyardTraces
import SwitchyardTraining

/// `switchyard eval`: evaluates a run's checkpoint on the test set.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a run's checkpoint on the test set: accuracy, per-class accuracy, optional trace.",
        discussion: """
        Uses the run's config.json and its newest checkpoint (or --epoch N). Evaluation mode: \
        no routing noise, evaluation capacity factors, averaged experts for random-batch.

        Examples:
          switchyard eval runs/ec
          switchyard eval runs/ec --epoch 1 --trace runs/ec/eval-epoch-1.sytrace
        """
    )

    @Argument(help: ArgumentHelp("The run directory.", valueName: "run-dir"))
    var runDirectory: String

    @Option(help: "Evaluate the checkpoint of this epoch (default: the newest).")
    var epoch: Int?

    @Option(help: "Also write the routing trace of the test set to this file (.sytrace).")
    var trace: String?

    @Option(name: .customLong("data-dir"), help: "Directory of the data set's files, if not where the run found them.")
    var dataDirectory: String?

    func run() throws {
        let configPath = (runDirectory as NSString).appendingPathComponent("config.json")
        var settings: [(path: String, text: String)] = []
        if let dataDirectory { settings.append(("data.directory", dataDirectory)) }
        let configuration = try ConfigurationResolver.resolve(preset: nil, file: configPath, settings: settings)
        let checkpoints = Trainer.checkpoints(in: runDirectory)
        guard let chosen = epoch.map({ e in checkpoints.first { $0.epoch == e } }) ?? checkpoints.last else {
            let have = checkpoints.map { String($0.epoch) }.joined(separator: ", ")
            throw InputError(file: runDirectory, message: epoch.map { "no checkpoint of epoch \($0); epochs: \(have.isEmpty ? "none" : have)" }
                             ?? "no checkpoints/epoch-N.ckpt in this run directory")
        }
        let trainer = try Trainer(configuration: configuration, runDirectory: runDirectory, quiet: true)
        try trainer.restore(from: chosen.path, ignoringDataDirectory: true)
        let result = try trainer.evaluate(recordTrace: trace != nil)
        if let trace, let recorded = result.trace { try RoutingTraceFile.write(recorded, to: trace) }
        print(String(format: "epoch %d checkpoint: test accuracy %.2f%%, test loss %.4f", chosen.epoch,
                     result.accuracy * 100, result.loss))
        for (name, accuracy) in zip(trainer.testSet.classNames, result.perClass) {
            print("  \(name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(format: "%6.2f%%", accuracy * 100))")
        }
        if let trace { print("trace written to \(trace)") }
    }
}
