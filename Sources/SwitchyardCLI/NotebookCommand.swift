import ArgumentParser
import SwitchyardFileIO
import Foundation
import SwitchyardNotebooks

/// `switchyard notebook`: executable markdown notebooks.
struct NotebookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notebook",
        abstract: "Run markdown notebooks: prose with ```switchyard blocks whose outputs are written after them.",
        discussion: """
        A notebook is a markdown file; each fenced ```switchyard block holds one Switchyard \
        subcommand, and `switchyard notebook run` writes what it printed right after it. \
        See `switchyard notebook run --help` and Notebooks-md/README.md.
        """,
        subcommands: [NotebookRunCommand.self]
    )
}

/// `switchyard notebook run`: runs a notebook's blocks in order and writes their outputs.
struct NotebookRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a notebook's ```switchyard blocks in order and write each one's output after it.",
        discussion: """
        A notebook is markdown prose plus fenced blocks, each one Switchyard subcommand \
        (the leading word `switchyard` is optional; `#` lines are comments; a backslash at \
        the end of a line continues the command):

          We train the tiny preset with the Switch router:

          ```switchyard
          train --preset tiny --router switch --epochs 1 \\
                --out runs/tiny-switch
          ```

          ```switchyard
          analyze runs/tiny-switch --bootstrap 0
          ```

        After each block the run writes its standard output between two markers, in a \
        ```text fence (or as it is, for subcommands that print markdown):

          <!-- switchyard:output -->
          ```text
          …
          ```
          <!-- switchyard:end -->

        Running again replaces these regions instead of adding new ones; everything else \
        (prose, other ```sh or ~~~ fences) stays byte for byte. Blocks run one after the \
        other in the working directory (default: the directory of the notebook written, \
        FILE or --out); if one exits non-zero the run stops and the notebook is left as it was.

        No shell is involved: quotes group words ('…' and "…"), but pipes, redirections, \
        variables, globs, `;`, `&` and `~` are refused. Blocks may run every Switchyard \
        subcommand but `notebook`, and of `sweep` plan, status, report and run with \
        --executor local (its directory is written, so it must be one a block may write). \
        Every argument that names a path (also after the `=` of \
        --set=KEY=VALUE) must stay inside the working directory or a directory given with \
        --allow-read (after `..` and symbolic links are followed), and --out, --json and \
        --trace must name places inside the working directory's runs/ or reports/ (or a \
        directory given with --allow-write), never the notebook itself: a notebook reads and \
        writes only where it is allowed to.

        Each block may run --block-timeout seconds (default 3600) and print --max-output \
        bytes (default 1 MiB); a block past either is stopped (its process group killed) and \
        the run fails. Ctrl-C or SIGTERM stops the running block the same way; if the runner \
        is killed, its block gets SIGTERM. A failed or stopped run leaves the notebook as it was.

        Examples:
          switchyard notebook run Notebooks-md/01-quick-start.md
          switchyard notebook run sweep.md --allow-read /usr/share/datasets
          switchyard notebook run draft.md --out Notebooks-md/03-draft.md
          switchyard notebook run sweep.md --dry-run    # check, list the commands
          switchyard notebook run long.md --block-timeout 0 --allow-write figures
        """
    )

    /// Subcommands whose standard output is markdown, inserted into notebooks as it is.
    static let markdownSubcommands: Set<String> = ["report", "compare", "sweep report"]
    /// Options whose values are written by the subcommands: they must lie in the working directory.
    static let outputOptions: Set<String> = ["--out", "--json", "--trace", "--save-placement"]
    /// Where blocks may write by default, relative to the working directory.
    static let writableDirectories = ["runs", "reports"]
    /// Options whose values are read as paths even when they do not look like paths.
    static let pathOptions: Set<String> = ["--config", "--data-dir", "--placement"]

    /// The subcommands a notebook may run: every subcommand of `switchyard` except `notebook`,
    /// so that a notebook cannot run notebooks.
    static var allowedSubcommands: Set<String> {
        Set(SwitchyardCommand.configuration.subcommands.map { $0.configuration.commandName ?? $0._commandName })
            .subtracting([NotebookCommand.configuration.commandName ?? "notebook"])
    }

    /// `sweep` in part: plan, status, report, and run on this machine, whose directory is
    /// written; never the Slurm executor, which submits jobs running an executable it is given
    /// (the policy checks paths, not that), nor `sweep task`, which the executors start.
    static let nestedRules: [String: NestedSubcommandRule] = [
        SweepCommand.configuration.commandName ?? "sweep": NestedSubcommandRule(
            allowed: ["plan": .read, "run": .written, "status": .read, "report": .read],
            refusedValues: ["--executor": (["slurm"], "a notebook runs sweeps on this machine only (--executor local)")]),
    ]

    @Argument(help: ArgumentHelp("The notebook (markdown) to run.", valueName: "file"))
    var file: String

    @Option(help: ArgumentHelp("Write the notebook with its outputs here instead of back to FILE.", valueName: "file"))
    var out: String?

    @Option(name: .customLong("workdir"), help: ArgumentHelp("Run the blocks here (default: the directory of the notebook written); they may write only in its runs/ and reports/ and --allow-write directories.", valueName: "dir"))
    var workingDirectory: String?

    @Option(name: .customLong("allow-read"), help: ArgumentHelp("A further directory the blocks may read (repeatable).", valueName: "dir"))
    var readableDirectories: [String] = []

    @Option(name: .customLong("allow-write"), help: ArgumentHelp("A further directory the blocks may write, relative to the working directory (repeatable; default runs and reports).", valueName: "dir"))
    var writableDirectories: [String] = []

    @Option(name: .customLong("block-timeout"), help: ArgumentHelp("Seconds a block may run before it is stopped (0 = no limit).", valueName: "seconds"))
    var blockTimeout: Double = BlockLimits().seconds

    @Option(name: .customLong("max-output"), help: ArgumentHelp("Bytes a block may print into the notebook before it is stopped (0 = no limit).", valueName: "bytes"))
    var maxOutput: Int = BlockLimits().outputBytes

    @Flag(name: .customLong("dry-run"), help: "Check every block and print the commands without running them.")
    var dryRun = false

    func validate() throws {
        guard blockTimeout.isFinite, blockTimeout >= 0, blockTimeout <= 1e9 else {
            throw ValidationError("--block-timeout \(blockTimeout) is not allowed; expected 0 (no limit) or seconds up to 1e9")
        }
        guard maxOutput >= 0 else { throw ValidationError("--max-output \(maxOutput) is not allowed; expected 0 (no limit) or more bytes") }
    }

    func run() throws {
        let written = out ?? file
        var directory = workingDirectory ?? (written as NSString).deletingLastPathComponent
        if directory.isEmpty { directory = "." }
        let protected = [file, written].filter { FileManager.default.fileExists(atPath: $0) || $0 == written }
        let policy = try NotebookPolicy(allowedSubcommands: Self.allowedSubcommands, workingDirectory: directory,
                                        readableDirectories: readableDirectories,
                                        writableDirectories: Self.writableDirectories + writableDirectories,
                                        protectedFiles: protected,
                                        outputOptions: Self.outputOptions, pathOptions: Self.pathOptions,
                                        nestedRules: Self.nestedRules)
        var executor = ProcessExecutor(markdownSubcommands: Self.markdownSubcommands,
                                       limits: BlockLimits(seconds: blockTimeout, outputBytes: maxOutput))
        executor.errorEcho = FileHandle.standardError  // progress of long runs, as it comes
        let runner = NotebookRunner(policy: policy, executor: executor.run) { block in
            FileHandle.standardError.write(Data("\(file): line \(block.line): \(block.commandText)\n".utf8))
        }
        if dryRun {
            let blocks = try runner.plan(Notebook(contentsOf: file))
            for block in blocks { print("line \(block.line): \(block.commandText)") }
            print("\(blocks.count) block\(blocks.count == 1 ? "" : "s") checked; they would run in \(directory)")
            return
        }
        let blocks = try runner.run(file: file, writingTo: written)
        print("\(written): \(blocks.count) block\(blocks.count == 1 ? "" : "s") run in \(directory)")
    }
}
