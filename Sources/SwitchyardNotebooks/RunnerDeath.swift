import Foundation

/// A notebook block's process dies with the notebook runner: ``ProcessExecutor`` puts the
/// runner's pid in ``variable``, and a Switchyard process that finds it there asks the kernel
/// (`prctl(PR_SET_PDEATHSIG)`, Linux) for SIGTERM when its parent dies — even by SIGKILL, which
/// leaves the runner no chance to stop its blocks itself.
public enum RunnerDeath {
    /// The environment variable holding the runner's pid.
    public static let variable = "SWITCHYARD_NOTEBOOK_RUNNER_PID"

    /// Called first thing by the `switchyard` command: follows the runner named in the
    /// environment, if any; stops at once if the runner is already gone. The variable is then
    /// removed, so that processes the block starts (a sweep's runs) follow their own parent's
    /// signals instead of a runner that is not their parent.
    public static func follow() {
        guard let text = getenv(variable) else { return }
        let pid = pid_t(String(cString: text))
        unsetenv(variable)
        guard let runner = pid else { return }
        // prctl is variadic and so not imported; called through its symbol with integer arguments.
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "prctl") else { return }
        let prctl = unsafeBitCast(symbol, to: Prctl.self)
        let setParentDeathSignal: Int32 = 1   // PR_SET_PDEATHSIG
        guard prctl(setParentDeathSignal, UInt(SIGTERM), 0, 0, 0) == 0 else { return }
        if getppid() != runner { raise(SIGTERM) }
    }
}
