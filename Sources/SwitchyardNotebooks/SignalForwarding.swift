import Foundation

/// While a block runs, SIGINT, SIGTERM and SIGHUP sent to the notebook runner are passed on to
/// the block's process group (which a terminal's Ctrl-C no longer reaches: the block leads a
/// group of its own); when the block has stopped, the runner dies of the same signal, before
/// it could write the notebook.
enum SignalForwarding {
    /// The running block's process group, 0 when none.
    nonisolated(unsafe) static var group: pid_t = 0
    /// The first signal received while a block ran, 0 if none.
    nonisolated(unsafe) static var received: Int32 = 0
    nonisolated(unsafe) private static var previous: [(Int32, sigaction)] = []
    static let signals = [SIGINT, SIGTERM, SIGHUP]

    /// Installs the forwarding handlers and runs `spawn`, which sets ``group``.
    static func whileRunning(_ spawn: () -> Int32) -> Int32 {
        received = 0
        group = 0
        previous = signals.map { signal in
            var action = sigaction(), old = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                if SignalForwarding.received == 0 { SignalForwarding.received = signal }
                if SignalForwarding.group > 0 { kill(-SignalForwarding.group, signal) }
            }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, &old)
            return (signal, old)
        }
        let status = spawn()
        if status == 0, received != 0 { kill(-group, received) }   // arrived before the group existed
        return status
    }

    /// Restores the handlers; re-raises a signal received meanwhile, with its default action.
    static func end() {
        group = 0
        for (signal, old) in previous {
            var action = old
            sigaction(signal, &action, nil)
        }
        previous = []
        let signal = received
        received = 0
        if signal != 0 {
            Foundation.signal(signal, SIG_DFL)
            raise(signal)
        }
    }
}
