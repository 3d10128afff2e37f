import SwitchyardFileIO
import Foundation

/// Runs a notebook: checks every block against the policy, runs the blocks in order through
/// an executor, puts each block's output right after it, and writes the notebook once.
///
/// ```swift
/// let policy = try NotebookPolicy(allowedSubcommands: ["routers", "presets"], workingDirectory: "Notebooks-md")
/// let runner = NotebookRunner(policy: policy, executor: ProcessExecutor().run)
/// try runner.run(file: "Notebooks-md/01-quick-start.md")
/// ```
///
/// Nothing runs unless every block passes the policy; a block that exits non-zero stops the
/// run and leaves the notebook file as it was. Outputs replace the previous run's, so running
/// a notebook twice gives the same file as running it once (given deterministic commands).
public struct NotebookRunner {
    /// Runs one command: its arguments (subcommand first) and the directory to run it in.
    public typealias Executor = (_ arguments: [String], _ workingDirectory: String) throws -> BlockResult

    /// What blocks may do.
    public var policy: NotebookPolicy
    /// What runs a block's command.
    public var executor: Executor
    /// Called before each block runs (e.g. to show progress); nil for silence.
    public var willRun: ((PlannedBlock) -> Void)?
    /// How many of the last lines of a failed command's standard error the error quotes.
    public var errorLines = 12

    /// A runner that checks blocks with `policy` and runs them with `executor`.
    public init(policy: NotebookPolicy, executor: @escaping Executor, willRun: ((PlannedBlock) -> Void)? = nil) {
        self.policy = policy
        self.executor = executor
        self.willRun = willRun
    }

    /// Every command block of `notebook`, tokenised and checked against the policy, in order.
    ///
    /// - Throws: the first ``InputError`` (naming the notebook file and line) of any block.
    public func plan(_ notebook: Notebook) throws -> [PlannedBlock] {
        try notebook.commandBlocks.enumerated().map { index, block in
            let tokens = try CommandTokenizer.command(of: block, file: notebook.path)
            return PlannedBlock(index: index, line: block.line, arguments: try policy.check(tokens, file: notebook.path))
        }
    }

    /// `notebook` with every block run and its output region replaced. The working directory
    /// is created if it does not exist.
    ///
    /// - Throws: an ``InputError`` naming the notebook file and the block's line when a block
    ///   is refused, cannot be run, exits non-zero (quoting the end of its standard error), or
    ///   prints a line that is one of the output markers.
    public func run(_ notebook: Notebook) throws -> Notebook {
        let blocks = try plan(notebook)
        do {
            try FileManager.default.createDirectory(atPath: policy.resolvedWorkingDirectory, withIntermediateDirectories: true)
        } catch {
            throw InputError(file: policy.workingDirectory, message: "cannot create the working directory (\(error.localizedDescription))")
        }
        var result = notebook
        let commandBlocks = notebook.commandBlocks
        for block in blocks {
            // Checked again just before it runs, in case an earlier block changed what a path leads to.
            _ = try policy.check(CommandTokenizer.command(of: commandBlocks[block.index], file: notebook.path), file: notebook.path)
            willRun?(block)
            let place = "line \(block.line)"
            let outcome: BlockResult
            do {
                outcome = try executor(block.arguments, policy.resolvedWorkingDirectory)
            } catch let stopped as BlockLimitExceeded {
                throw InputError(file: notebook.path, location: place, message: "`\(block.commandText)` \(stopped)")
            } catch {
                throw InputError(file: notebook.path, location: place, message: "`\(block.commandText)` could not run: \(error)")
            }
            guard outcome.status == 0 else {
                let said = tail(outcome.errors.isEmpty ? outcome.output : outcome.errors)
                throw InputError(file: notebook.path, location: place, message: """
                    `\(block.commandText)` exited with status \(outcome.status)\(said.isEmpty ? " and printed nothing" : ":\n\(said)")
                    """)
            }
            let content = outcome.regionContent
            if TextLines.split(content).contains(where: { OutputRegion.isMarker(TextLines.content($0)) }) {
                throw InputError(file: notebook.path, location: place, message: """
                    `\(block.commandText)` printed a line that is an output marker \
                    (\(OutputRegion.startMarker) or \(OutputRegion.endMarker)); the notebook could not be read back
                    """)
            }
            result.replaceOutput(ofBlock: block.index, with: content)
        }
        return result
    }

    /// Reads the notebook at `file`, runs it, and writes the result atomically to `output`
    /// (nil: back to `file`); a symbolic link is written through, to its target, and stays a
    /// link. Nothing is written if anything fails, and should a block have changed the file
    /// after all, its bytes are put back.
    ///
    /// - Returns: the blocks that ran.
    @discardableResult
    public func run(file: String, writingTo output: String? = nil) throws -> [PlannedBlock] {
        let notebook = try Notebook(contentsOf: file)
        let blocks = try plan(notebook)
        let target = output ?? file
        let destination: String
        do { destination = try PhysicalPath.resolve(target) } catch let error as InputError {
            throw InputError(file: target, message: "cannot write the notebook: \(error.message)")
        }
        let original = [file, destination].map { ($0, FileManager.default.contents(atPath: $0)) }
        let rendered: String
        do {
            rendered = try run(notebook).text
        } catch {
            for (path, bytes) in original where FileManager.default.contents(atPath: path) != bytes {
                if let bytes { try? AtomicFile.write(bytes, to: (try? PhysicalPath.resolve(path)) ?? path) }
                else { try? FileManager.default.removeItem(atPath: path) }
            }
            throw error
        }
        try AtomicFile.write(rendered, to: destination)
        return blocks
    }

    /// The last ``errorLines`` non-empty lines of `text`, indented.
    private func tail(_ text: String) -> String {
        let lines = TextLines.split(text).map { TextLines.content($0) }.filter { !$0.trimmingWhitespace().isEmpty }
        return lines.suffix(errorLines).map { "    \($0)" }.joined(separator: "\n")
    }
}
