import SwitchyardFileIO
import Foundation

/// Runs a block's command as a child process of an executable (by default the running one,
/// so that a user's own executable with their registered routers is what runs): the
/// argument vector is passed directly, never through a shell, with the working directory as
/// the current directory, standard input empty, and standard output and standard error
/// captured (standard error optionally echoed as it arrives).
///
/// The child leads a process group of its own, which is killed when the block exceeds its
/// ``BlockLimits``; SIGINT, SIGTERM and SIGHUP sent to the runner while a block runs are passed
/// on to that group, and the runner then dies of the same signal once the block has stopped
/// (a `train` block writes its interrupted checkpoint first). A Switchyard child also asks
/// the kernel for SIGTERM should the runner die without warning (``RunnerDeath``).
public struct ProcessExecutor: Sendable {
    /// The executable to run.
    public var executablePath: String
    /// Subcommands whose standard output is markdown (inserted as it is), by their first word
    /// or their first two (`sweep report`); the others' output is shown as text.
    public var markdownSubcommands: Set<String>
    /// Where to copy the command's standard error as it arrives (progress of long runs), as
    /// well as capturing it; nil to capture it only.
    public var errorEcho: FileHandle?
    /// The time and output limits of one block.
    public var limits: BlockLimits

    /// An executor running `executablePath` (default: the running executable).
    public init(executablePath: String = ProcessExecutor.currentExecutable, markdownSubcommands: Set<String> = [],
                limits: BlockLimits = BlockLimits()) {
        self.executablePath = executablePath
        self.markdownSubcommands = markdownSubcommands
        self.limits = limits
    }

    /// The running executable, `/proc/self/exe` resolved (or as it is if it cannot be).
    public static var currentExecutable: String {
        guard let pointer = realpath("/proc/self/exe", nil) else { return "/proc/self/exe" }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29), looked up: Swift does not import it.
    private static let addChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }()

    /// Standard error kept for the error message: its last this many bytes.
    static let keptErrorBytes = 64 << 10

    /// Runs `arguments` in `workingDirectory` and returns the exit status and what was printed.
    /// Both pipes are read at once, so that a command printing much on either cannot block.
    ///
    /// - Throws: an ``InputError`` if the executable cannot start, ``BlockLimitExceeded`` if
    ///   the command ran too long or printed too much (it is then stopped).
    public func run(arguments: [String], workingDirectory: String) throws -> BlockResult {
        guard let addChdir = ProcessExecutor.addChdir else {
            throw InputError(message: "this C library has no posix_spawn_file_actions_addchdir_np (glibc 2.29 or later needed)")
        }
        var outputPipe: [Int32] = [-1, -1], errorPipe: [Int32] = [-1, -1]
        guard pipe(&outputPipe) == 0 else { throw InputError(message: "cannot create a pipe (\(String(cString: strerror(errno))))") }
        guard pipe(&errorPipe) == 0 else {
            close(outputPipe[0]); close(outputPipe[1])
            throw InputError(message: "cannot create a pipe (\(String(cString: strerror(errno))))")
        }
        for descriptor in outputPipe + errorPipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        _ = addChdir(&actions, workingDirectory)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t(), mask = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE] { sigaddset(&defaults, signal) }
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let environment = ProcessInfo.processInfo.environment.filter { $0.key != RunnerDeath.variable }
            .map { "\($0.key)=\($0.value)" } + ["\(RunnerDeath.variable)=\(getpid())"]
        let argv = ([executablePath] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let spawned = SignalForwarding.whileRunning {
            let status = posix_spawn(&pid, executablePath, &actions, &attributes, argv, envp)
            if status == 0 { SignalForwarding.group = pid }
            return status
        }
        close(outputPipe[1])
        close(errorPipe[1])
        guard spawned == 0 else {
            close(outputPipe[0]); close(errorPipe[0])
            SignalForwarding.end()
            throw InputError(file: executablePath, message: "cannot start (\(String(cString: strerror(spawned))))")
        }
        let (output, errors, exceeded) = collect(output: outputPipe[0], errors: errorPipe[0])
        let status = exceeded == nil ? ProcessExecutor.wait(for: pid) : ProcessExecutor.stop(group: pid)
        SignalForwarding.end()   // dies of a signal passed on to the block, now that it has stopped
        if let exceeded { throw exceeded }
        let words = [arguments.first, arguments.count > 1 ? arguments.prefix(2).joined(separator: " ") : nil].compactMap { $0 }
        let format: BlockResult.Format = words.contains(where: markdownSubcommands.contains) ? .markdown : .text
        return BlockResult(status: status, output: String(decoding: output, as: UTF8.self),
                           errors: String(decoding: errors, as: UTF8.self), format: format)
    }

    /// Reads both pipes to their end, within the limits; on exceeding one, kills the group.
    private func collect(output: Int32, errors: Int32) -> (Data, Data, BlockLimitExceeded?) {
        var out = Data(), err = Data()
        var open = [output, errors]
        let deadline = limits.seconds > 0 ? monotonicSeconds() + limits.seconds : .infinity
        var exceeded: BlockLimitExceeded?
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        loop: while !open.isEmpty {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 { exceeded = BlockLimitExceeded(limit: .seconds(limits.seconds)); break }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining * 1000, 1000).rounded(.up)))
            if ready < 0 { if errno == EINTR { continue } else { break } }
            for descriptor in fds where descriptor.revents != 0 {
                let n = read(descriptor.fd, &buffer, buffer.count)
                if n < 0, errno == EINTR || errno == EAGAIN { continue }
                if n <= 0 {
                    close(descriptor.fd)
                    open.removeAll { $0 == descriptor.fd }
                    continue
                }
                if descriptor.fd == output {
                    out.append(contentsOf: buffer[..<n])
                    if limits.outputBytes > 0, out.count > limits.outputBytes {
                        exceeded = BlockLimitExceeded(limit: .outputBytes(limits.outputBytes))
                        break loop
                    }
                } else {
                    err.append(contentsOf: buffer[..<n])
                    if err.count > 4 * ProcessExecutor.keptErrorBytes { err = Data(err.suffix(ProcessExecutor.keptErrorBytes)) }
                    errorEcho?.write(Data(buffer[..<n]))
                }
            }
        }
        for descriptor in open { close(descriptor) }
        return (out, err, exceeded)
    }

    /// Stops the group led by `group`: SIGTERM (a `train` writes its interrupted checkpoint),
    /// SIGKILL to whatever is left after 5 s; returns the leader's status.
    private static func stop(group: pid_t) -> Int32 {
        kill(-group, SIGTERM)
        let deadline = monotonicSeconds() + 5
        var status: Int32 = 0
        while monotonicSeconds() < deadline {
            if waitpid(group, &status, WNOHANG) == group {
                kill(-group, SIGKILL)
                return decode(status)
            }
            usleep(20_000)
        }
        kill(-group, SIGKILL)
        return wait(for: group)
    }

    /// Waits for `pid`; its exit status, or 128 + the signal that killed it.
    private static func wait(for pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return 128 + SIGKILL }
        }
        return decode(status)
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Monotonic seconds.
private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
