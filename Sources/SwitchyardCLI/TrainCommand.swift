import ArgumentParser
import SwitchyardFileIO
import Foundation
import SwitchyardParallelism
import SwitchyardTraining

/// How `train` spreads a run over processes.
enum ParallelMode: String, ExpressibleByArgument, CaseIterable {
    /// Experts spread over the MPI job's processes, everything else replicated.
    case expert
}

/// Options shared by commands that build a run configuration.
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "Start from this preset (see `switchyard presets`).")
    var preset: String?

    @Option(name: .customLong("config"), help: "Start from this configuration file (a run's config.json) instead of a preset.")
    var configFile: String?

    @Option(help: "The router (see `switchyard routers`); same as --set model.router=NAME.")
    var router: String?

    @Option(name: .customLong("router-option"), help: ArgumentHelp("A router hyperparameter, NAME=VALUE (repeatable).", valueName: "name=value"))
    var routerOptions: [String] = []

    @Option(help: "Experts per MoE layer; same as --set model.experts=N.")
    var experts: Int?

    @Option(help: "The seed of every random draw.")
    var seed: Int?

    @Option(help: "Passes over the training set.")
    var epochs: Int?

    @Option(name: .customLong("batch-size"), help: "Images per step.")
    var batchSize: Int?

    @Option(help: "Compute threads: GEMMs, attention and the per-token kernels are split over them (same seed and threads give the same numbers).")
    var threads: Int?

    @Option(name: .customLong("data-dir"), help: "Directory of the data set's files (default: the data set's usual place).")
    var dataDirectory: String?

    @Option(name: .customLong("on-non-finite"), help: "When the loss or a gradient is NaN or infinite: stop (default; names the step and layer) or skip the step.")
    var onNonFinite: NonFinitePolicy?

    @Option(name: .customLong("set"), help: ArgumentHelp("Any configuration field, PATH=VALUE (repeatable), e.g. model.width=128 or optimizer.learningRate=3e-4.", valueName: "path=value"))
    var settings: [String] = []

    /// The validated configuration these options describe, starting from `baseFile` (a run's
    /// config.json) when neither --preset nor --config is given.
    func resolve(baseFile: String? = nil) throws -> TrainingConfiguration {
        var pairs = try JSONOverrides.parse(settings, option: "--set")
        if let router { pairs.append(("model.router", router)) }
        if let experts { pairs.append(("model.experts", String(experts))) }
        if let seed { pairs.append(("seed", String(seed))) }
        if let epochs { pairs.append(("epochs", String(epochs))) }
        if let batchSize { pairs.append(("batchSize", String(batchSize))) }
        if let threads { pairs.append(("threads", String(threads))) }
        if let dataDirectory { pairs.append(("data.directory", dataDirectory)) }
        let file = configFile ?? (preset == nil ? baseFile : nil)
        var configuration = try ConfigurationResolver.resolve(preset: preset, file: file, settings: pairs)
        if let onNonFinite { configuration.nonFinite = onNonFinite }
        if !routerOptions.isEmpty {
            for (key, value) in try JSONOverrides.parse(routerOptions, option: "--router-option") {
                configuration.model.routerOptions[key] = value
            }
            try ConfigurationResolver.validate(configuration)
        }
        return configuration
    }
}

/// `switchyard train`: trains a ViT with MoE blocks and writes a run directory.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a Vision Transformer with MoE feed-forward blocks and write a run directory.",
        discussion: """
        The run directory gets config.json, metrics.jsonl (per-step loss, learning rate, \
        tokens per expert, dropped tokens), epochs.jsonl (test accuracy per epoch and class), \
        checkpoints/epoch-N.ckpt and traces/epoch-N.sytrace (the routing of every test token), \
        and summary.json at the end.

        Examples:
          switchyard train --preset fmnist-small --router expert-choice --seed 0 --out runs/ec
          switchyard train --router switch --router-option trainingCapacityFactor=1.0 --out runs/sw-cf1
          switchyard train --preset tiny --router top-2 --epochs 1 --out runs/smoke
          switchyard train --set model.width=128 --set optimizer.learningRate=5e-4 --out runs/wide
          switchyard train --out runs/ec --resume          # continue after the last checkpoint
          switchyard train --out runs/ec --resume --epochs 6   # extend it (if the learning rates allow)
          switchyard train --preset tiny --out runs/smoke --overwrite   # replace the run there
          mpirun -np 2 .build/release/switchyard-mpi train --threads 1 --parallel expert --out runs/ep2

        The run directory is locked while a run writes it (a second run with the same --out \
        is refused, naming the first one's pid). A new run needs an empty --out: continue the \
        run there with --resume or replace it with --overwrite. --resume uses the run's own \
        config.json and its newest intact checkpoint (falling back, with a warning, to an older \
        one if the newest is damaged); --epochs on --resume extends the run when the epochs \
        already trained used the same learning rates as a run of the new length would have \
        (and is refused with the reason otherwise).

        Ctrl-C (SIGINT) or SIGTERM stops after the step in progress and writes \
        checkpoints/interrupted.ckpt; --resume continues from it and ends with the same \
        weights as an uninterrupted run (same seed and threads). A second Ctrl-C stops at once.

        --parallel expert (switchyard-mpi under mpirun or srun, built by `make mpi`) spreads the \
        run over P processes: each owns E/P experts of every MoE layer and B/P images of every \
        batch (its routing group; model.routingGroupImages is set to B/P when unset), everything \
        else is replicated. Rank 0 alone writes the run directory, which also gets \
        expert-parallel.jsonl (per-rank exchange costs). docs/expert-parallel.md.
        """
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "The run directory to write.")
    var out: String

    @Flag(help: "Continue the run in --out from its newest intact checkpoint, with the run's own configuration (config.json); only --epochs may change, to extend the run.")
    var resume = false

    @Flag(help: "Replace the run in --out: remove its config.json, logs, checkpoints and traces first.")
    var overwrite = false

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    @Option(help: ArgumentHelp("Spread the run over the processes of an MPI job: `expert` gives each of P processes E/P experts of every MoE layer and B/P images of every batch (needs the switchyard-mpi executable under mpirun or srun; docs/expert-parallel.md).", valueName: "mode"))
    var parallel: ParallelMode?

    func run() throws {
        if resume && overwrite {
            throw ValidationError("--resume continues the run in --out and --overwrite replaces it; give one of them")
        }
        let communicator = try parallel.map { _ in try Self.expertParallelCommunicator() }
        var configuration = try resume ? resumedConfiguration() : options.resolve()
        if let communicator, !resume, (configuration.model.routingGroupImages ?? 0) == 0 {
            // Each process's share of a batch is its routing group; the configuration says so.
            configuration.model.routingGroupImages = max(1, configuration.batchSize / communicator.size)
        }
        if let communicator { try ExpertParallelTraining.validate(configuration, processes: communicator.size) }
        // Nothing is written before the configuration is valid; the lock is held from here on.
        // Under expert parallelism rank 0 alone prepares and writes the run directory.
        let writer = (communicator?.rank ?? 0) == 0
        let lock = writer ? try RunDirectoryLock(directory: out) : nil
        defer { lock?.release(removingCreatedDirectory: true) }
        if writer {
            for note in try RunDirectorySetup.prepare(out, mode: resume ? .resume : overwrite ? .overwrite : .new) where !quiet {
                FileHandle.standardError.write(Data("\(out): \(note)\n".utf8))
            }
        }
        communicator?.barrier()
        let trainer = try Trainer(configuration: configuration, runDirectory: out, resume: resume, quiet: quiet,
                                  communicator: communicator)
        let summary: RunSummary
        do {
            summary = try trainer.run()
        } catch let interrupted as TrainingInterrupted {
            FileHandle.standardError.write(Data("switchyard train: \(interrupted)\n".utf8))
            // Every process stopped after the same step: end MPI cleanly, keeping the exit status.
            if communicator != nil { CommunicatorProvider.finish?() }
            throw ExitCode(128 + interrupted.signal)
        }
        // One line on standard output (progress goes to standard error): what a notebook shows.
        guard writer else { return }
        print(String(format: "%@: %@, seed %d, test accuracy %.2f%% after %d epochs (%d steps), %@ parameters "
                     + "(%@ evaluated), %.0f images/s", out, summary.router, summary.seed, summary.testAccuracy * 100,
                     summary.epochs, summary.steps, String(summary.parameterCount), String(summary.evaluationParameterCount),
                     summary.imagesPerSecond))
    }
}

extension TrainCommand {
    /// The MPI job's communicator, or a clear error in a build without MPI.
    static func expertParallelCommunicator() throws -> any Communicator {
        guard let make = CommunicatorProvider.make else {
            throw InputError(location: "--parallel expert", message: """
                needs MPI, and this switchyard was built without it. Build the MPI executable with `make mpi` \
                (it installs Open MPI if missing) and start it under MPI: \
                mpirun -np P .build/release/switchyard-mpi train ... --parallel expert (docs/expert-parallel.md)
                """)
        }
        return try make()
    }

    /// The configuration of the run to resume: its config.json with the command line's
    /// settings applied, which may change nothing but `epochs`. Without a config.json (a run
    /// stopped before it wrote one) the command line must give the configuration, starting
    /// with --preset or --config: a resume never falls back to the default preset.
    func resumedConfiguration() throws -> TrainingConfiguration {
        guard let saved = try RunDirectorySetup.savedConfiguration(in: out) else {
            guard options.preset != nil || options.configFile != nil else { throw RunDirectorySetup.missingConfiguration(in: out) }
            return try options.resolve()
        }
        let requested = try options.resolve(baseFile: (out as NSString).appendingPathComponent("config.json"))
        try RunDirectorySetup.checkResume(of: out, saved: saved, requested: requested)
        return requested
    }
}

/// `switchyard presets`: the named starting configurations.
struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presets",
        abstract: "List the presets, or print one as JSON.",
        discussion: """
        Every field of a preset can be changed with --set PATH=VALUE on train, e.g.
          switchyard train --preset fmnist-small --set model.depth=6 --out runs/deep

        Examples:
          switchyard presets
          switchyard presets fmnist-small      # the full configuration as JSON
        """
    )

    @Argument(help: "A preset to print in full.")
    var name: String?

    func run() throws {
        if let name {
            guard let preset = Presets.named(name) else {
                throw ValidationError("no preset named '\(name)'; presets: \(Presets.all.map(\.name).joined(separator: ", "))")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(preset), as: UTF8.self))
            return
        }
        for preset in Presets.all {
            print("\(preset.name)\n  \(preset.summary)")
        }
    }
}

extension NonFinitePolicy: ExpressibleByArgument {}
