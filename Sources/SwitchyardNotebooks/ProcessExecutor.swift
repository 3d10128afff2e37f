import SwitchyardFileIO
import Foundation

/// Runs a block's command as a child process of an executable (by default the running one,
/// so that a user's own executable with their registered routers is what runs): the
/// argument vector is passed directly, never through a shell, with the working directory as
/// the current directory, standard input empty, and standard output and standard error
/// captured (standard error optionally echoed as it arrives).
public struct ProcessExecutor: Sendable {
    /// The executable to run.
    public var executablePath: String
    /// Subcommands whose standard output is markdown (inserted as it is); the others' output
    /// is shown as text.
    public var markdownSubcommands: Set<String>
    /// Where to copy the command's standard error as it arrives (progress of long runs), as
    /// well as capturing it; nil to capture it only.
    public var errorEcho: FileHandle?

    /// An executor running `executablePath` (default: the running executable).
    public init(executablePath: String = ProcessExecutor.currentExecutable, markdownSubcommands: Set<String> = []) {
        self.executablePath = executablePath
        self.markdownSubcommands = markdownSubcommands
    }

    /// The running executable, `/proc/self/exe` resolved (or as it is if it cannot be).
    public static var currentExecutable: String {
        guard let pointer = realpath("/proc/self/exe", nil) else { return "/proc/self/exe" }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// Runs `arguments` in `workingDirectory` and returns the exit status and what was printed.
    /// Both pipes are read at once, so that a command printing much on either cannot block.
    public func run(arguments: [String], workingDirectory: String) throws -> BlockResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executablePath)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory, isDirectory: true)
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw InputError(file: executablePath, message: "cannot start (\(error.localizedDescription))")
        }
        let errorReader = PipeReader(errors.fileHandleForReading, echo: errorEcho)
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errorReader.wait()
        process.waitUntilExit()
        var status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal { status = 128 + status }
        let format: BlockResult.Format = arguments.first.map(markdownSubcommands.contains) == true ? .markdown : .text
        return BlockResult(status: status, output: String(decoding: outputData, as: UTF8.self),
                           errors: String(decoding: errorData, as: UTF8.self), format: format)
    }
}

/// Reads a pipe to its end on a thread of its own, copying each piece to `echo` if given.
private final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle, echo: FileHandle?) {
        let thread = Thread { [self] in
            while true {
                let piece = handle.availableData
                if piece.isEmpty { break }
                data.append(piece)
                echo?.write(piece)
            }
            done.signal()
        }
        thread.start()
    }

    /// Everything the pipe gave, once it is closed.
    func wait() -> Data {
        done.wait()
        return data
    }
}
