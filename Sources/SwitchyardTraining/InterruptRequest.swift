import Foundation

/// Turns SIGINT (Ctrl-C) and SIGTERM into a request that the training loop honours after the
/// step in progress: it writes `checkpoints/interrupted.ckpt` and stops cleanly, so that
/// `--resume` continues exactly where the run stopped. A second signal stops the process at
/// once (the checkpoints already written stay intact: they are written atomically).
final class InterruptRequest {
    private let lock = NSLock()
    private var signalNumber: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// Starts listening for SIGINT and SIGTERM.
    func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.signalNumber = number
                self.lock.unlock()
                // The next signal takes the default action: the process ends at once.
                signal(SIGINT, SIG_DFL)
                signal(SIGTERM, SIG_DFL)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Stops listening and restores the default actions.
    func uninstall() {
        for source in sources { source.cancel() }
        sources = []
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// The signal received since ``install()``, if any.
    var received: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return signalNumber
    }
}

/// Training stopped on SIGINT or SIGTERM after writing a checkpoint; `--resume` continues it.
public struct TrainingInterrupted: Error, CustomStringConvertible, Sendable {
    /// Steps completed and saved.
    public var step: Int
    /// The checkpoint written.
    public var checkpoint: String
    /// The signal that asked for the stop.
    public var signal: Int32

    /// "interrupted after step N; …".
    public var description: String {
        "interrupted (signal \(signal)) after step \(step); the checkpoint \(checkpoint) holds it: "
            + "run the same command with --resume to continue"
    }
}
