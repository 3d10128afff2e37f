import SwitchyardFileIO
import Foundation

/// What a notebook may do: which subcommands its blocks may run, which directories their
/// arguments may name, and where they may write.
///
/// Commands run with the working directory (the notebook's output directory) as their
/// current directory. Every argument that names a path must lead, after `.`/`..` are removed
/// and symbolic links are followed (``PhysicalPath``), inside the working directory or one of
/// the readable directories; the values of output options (`--out`, `--json`, …) must lead
/// inside the working directory itself. An argument names a path when
///
/// - it contains `/`, begins with `.` or `~`, or names an entry of the working directory
///   (a symbolic link there may point anywhere), whether or not it starts with `-` (after
///   `--`, `-x/../..` is a positional value);
/// - it is the value of a path option or an output option (`--out DIR` or `--out=DIR`);
/// - it is the value after any `=` of `--option=value`, `name=value` or
///   `--option=name=value` (`--set=data.directory=/x`), and that value looks like a path by
///   the first rule.
///
/// Output values must moreover lead inside one of the writable directories (default: the
/// working directory) and may never be, or hold, a protected file (the notebook itself).
///
/// `~` and empty paths are refused. The checks concern the arguments: a command's own
/// defaults (the data set's usual directory, say) are not arguments and are not checked.
public struct NotebookPolicy: Sendable {
    /// The subcommands a block may run (its first argument).
    public let allowedSubcommands: Set<String>
    /// The working directory as given: where commands run and the only place they may write.
    public let workingDirectory: String
    /// Further directories that arguments may name for reading, as given.
    public let readableDirectories: [String]
    /// Options whose value is a file or directory the command writes (`--out`, `--json`).
    public let outputOptions: Set<String>
    /// Options whose value is a file or directory the command reads, checked even when the
    /// value does not look like a path.
    public let pathOptions: Set<String>
    /// The working directory, physical.
    public let resolvedWorkingDirectory: String
    /// The working directory and the readable directories, physical.
    public let resolvedReadableDirectories: [String]
    /// Where output options may write, as given (empty: the working directory).
    public let writableDirectories: [String]
    /// Where output options may write, physical.
    public let resolvedWritableDirectories: [String]
    /// Files no output may be or hold (the notebook read and the notebook written), physical.
    public let protectedFiles: [String]
    /// Subcommands a notebook may run only in part (`sweep`), by their first word.
    public let nestedRules: [String: NestedSubcommandRule]

    /// A policy; relative directories are taken relative to the current directory.
    ///
    /// Throws an ``InputError`` if a directory is empty or goes through a dangling link.
    /// Relative writable directories are taken relative to the working directory; protected
    /// files relative to the current directory.
    public init(allowedSubcommands: Set<String>, workingDirectory: String, readableDirectories: [String] = [],
                writableDirectories: [String] = [], protectedFiles: [String] = [],
                outputOptions: Set<String> = [], pathOptions: Set<String> = [],
                nestedRules: [String: NestedSubcommandRule] = [:]) throws {
        self.allowedSubcommands = allowedSubcommands
        self.nestedRules = nestedRules
        self.workingDirectory = workingDirectory
        self.readableDirectories = readableDirectories
        self.outputOptions = outputOptions
        self.pathOptions = pathOptions
        func physical(_ directory: String, _ what: String) throws -> String {
            guard !directory.isEmpty else { throw InputError(location: what, message: "an empty directory") }
            do { return try PhysicalPath.resolve(directory) } catch let error as InputError {
                throw InputError(file: directory, location: what, message: error.message)
            }
        }
        resolvedWorkingDirectory = try physical(workingDirectory, "working directory")
        let working = resolvedWorkingDirectory
        self.writableDirectories = writableDirectories
        let writable = try writableDirectories.isEmpty ? [working] : writableDirectories.map { directory in
            guard !directory.isEmpty else { throw InputError(location: "--allow-write", message: "an empty directory") }
            do { return try PhysicalPath.resolve(directory, relativeTo: working) } catch let error as InputError {
                throw InputError(file: directory, location: "--allow-write", message: error.message)
            }
        }
        resolvedWritableDirectories = writable
        resolvedReadableDirectories = try [working] + readableDirectories.map { try physical($0, "--allow-read") }
            + writable.filter { !PhysicalPath.isInside($0, working) }
        self.protectedFiles = try protectedFiles.map { try physical($0, "notebook") }
    }

    /// How error messages name the working directory: as given, or physical if given as `.`.
    private var workingDirectoryName: String {
        workingDirectory == "." || workingDirectory == "./" ? resolvedWorkingDirectory : workingDirectory
    }

    /// The arguments of a block's command, checked: the subcommand is allowed and every path
    /// stays inside the notebook's directories.
    ///
    /// - Parameters:
    ///   - tokens: the command's tokens (from ``CommandTokenizer/command(of:file:)``).
    ///   - file: the notebook file, for errors.
    /// - Throws: an ``InputError`` naming `file`, the token's line and what is refused.
    public func check(_ tokens: [CommandToken], file: String?) throws -> [String] {
        guard let first = tokens.first else { throw InputError(file: file, message: "a block without a command") }
        guard allowedSubcommands.contains(first.text) else {
            throw InputError(file: file, location: "line \(first.line)", message: """
                '\(first.text)' is not a subcommand a notebook may run; it may run \
                \(allowedSubcommands.sorted().joined(separator: ", "))
                """)
        }
        var index = 1
        var positionals = NestedSubcommandRule.Positionals.read
        if let rule = nestedRules[first.text] {
            positionals = try checkNested(tokens, rule: rule, file: file)
            index = 2
        }
        while index < tokens.count {
            let token = tokens[index]
            let text = token.text
            if outputOptions.contains(text) || pathOptions.contains(text) {
                guard index + 1 < tokens.count else { break }  // the subcommand reports the missing value
                try checkPath(tokens[index + 1].text, option: text, writes: outputOptions.contains(text),
                              line: tokens[index + 1].line, file: file)
                index += 2
                continue
            }
            var option: String?
            if text.hasPrefix("-"), let equals = text.firstIndex(of: "=") {
                let name = String(text[..<equals]), value = String(text[text.index(after: equals)...])
                option = name
                if outputOptions.contains(name) || pathOptions.contains(name) {
                    try checkPath(value, option: name, writes: outputOptions.contains(name), line: token.line, file: file)
                }
            } else if looksLikePath(text) {
                // Also a token starting with "-": after "--" it is a positional value.
                try checkPath(text, option: nil, writes: positionals == .written, line: token.line, file: file)
            }
            // The value after every `=`: `--set=data.directory=/x` holds a path after the second.
            var rest = Substring(text)
            while let equals = rest.firstIndex(of: "=") {
                rest = rest[rest.index(after: equals)...]
                if looksLikePath(String(rest)) { try checkPath(String(rest), option: option, writes: false, line: token.line, file: file) }
            }
            index += 1
        }
        return tokens.map(\.text)
    }

    /// The second word of a nested subcommand, checked against `rule`, and what its positional
    /// paths are.
    private func checkNested(_ tokens: [CommandToken], rule: NestedSubcommandRule, file: String?) throws -> NestedSubcommandRule.Positionals {
        let first = tokens[0]
        let allowed = rule.allowed.keys.sorted().map { "\(first.text) \($0)" }.joined(separator: ", ")
        guard tokens.count > 1, let positionals = rule.allowed[tokens[1].text] else {
            let given = tokens.count > 1 ? "'\(first.text) \(tokens[1].text)'" : "'\(first.text)' alone"
            throw InputError(file: file, location: "line \((tokens.count > 1 ? tokens[1] : first).line)",
                             message: "\(given) is not something a notebook may run; it may run \(allowed)")
        }
        for (index, token) in tokens.enumerated().dropFirst(2) {
            for (option, refused) in rule.refusedValues {
                let value: String?
                if token.text == option { value = index + 1 < tokens.count ? tokens[index + 1].text : nil }
                else if token.text.hasPrefix(option + "=") { value = String(token.text.dropFirst(option.count + 1)) }
                else { value = nil }
                if let value, refused.values.contains(value) {
                    throw InputError(file: file, location: "line \(token.line)",
                                     message: "\(first.text) \(tokens[1].text) \(option) \(value) is not something a notebook may run: \(refused.reason)")
                }
            }
        }
        return positionals
    }

    /// Whether `text` is taken for a path: it contains `/`, begins with `.` or `~`, or names
    /// an entry (a file, directory or link) of the working directory.
    public func looksLikePath(_ text: String) -> Bool {
        if text.contains("/") || text.hasPrefix(".") || text.hasPrefix("~") { return true }
        guard !text.isEmpty else { return false }
        var status = stat()
        return lstat(resolvedWorkingDirectory + "/" + text, &status) == 0
    }

    /// The physical path `path` leads to from the working directory, if it lies inside the
    /// working directory (`writes`) or inside a readable directory.
    ///
    /// - Throws: an ``InputError`` naming `file` and `line` if the path is empty, starts with
    ///   `~`, cannot be resolved, or leads outside.
    @discardableResult
    public func checkPath(_ path: String, option: String?, writes: Bool, line: Int, file: String?) throws -> String {
        let place = "line \(line)"
        let what = option.map { "\($0) '\(path)'" } ?? "path '\(path)'"
        guard !path.isEmpty else {
            throw InputError(file: file, location: place, message: "\(option ?? "an argument") is given an empty path")
        }
        guard !path.hasPrefix("~") else {
            throw InputError(file: file, location: place, message: """
                \(what): '~' is not expanded (notebooks run Switchyard subcommands, not a shell); \
                give a path relative to the notebook's working directory (\(workingDirectoryName))
                """)
        }
        let resolved: String
        do {
            resolved = try PhysicalPath.resolve(path, relativeTo: resolvedWorkingDirectory)
        } catch let error as InputError {
            throw InputError(file: file, location: place, message: "\(what) goes through \(error.file ?? "a link"): \(error.message)")
        }
        if writes {
            guard resolvedWritableDirectories.contains(where: { PhysicalPath.isInside(resolved, $0) }) else {
                throw InputError(file: file, location: place, message: writableDirectories.isEmpty ? """
                    \(what) is outside the notebook's working directory (\(workingDirectoryName)); \
                    a notebook writes only there
                    """ : """
                    \(what) is outside the directories a notebook may write (\(writableDirectories.joined(separator: ", ")) \
                    in \(workingDirectoryName)); a notebook writes only there (more with --allow-write)
                    """)
            }
            if let notebook = protectedFiles.first(where: { PhysicalPath.isInside($0, resolved) }) {
                throw InputError(file: file, location: place, message: """
                    \(what) would write \(notebook == resolved ? "over" : "into a directory holding") the notebook \
                    (\(notebook)); a block may never write the notebook
                    """)
            }
        } else {
            guard resolvedReadableDirectories.contains(where: { PhysicalPath.isInside(resolved, $0) }) else {
                throw InputError(file: file, location: place, message: """
                    \(what) is outside the notebook's directories (\(([workingDirectoryName] + readableDirectories).joined(separator: ", ")))
                    """)
            }
        }
        return resolved
    }
}
