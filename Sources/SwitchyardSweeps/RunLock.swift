import Foundation
import SwitchyardFileIO
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on one run (`state/ID.lock`, `flock`), held by whatever process runs it:
/// two executors (a local one and a Slurm task, two resubmissions) never train the same run at
/// once, and `sweep status` tells a running run by its lock being held. The kernel releases it
/// when the process ends, however it ends.
public final class RunLock {
    private let descriptor: Int32
    /// The lock file.
    public let path: String

    /// Takes the lock, or returns nil when another process holds it.
    public init?(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else {
            throw InputError(file: path, message: "cannot open the run's lock file (\(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        descriptor = fd
        self.path = path
    }

    /// Whether some process holds the lock at `path` now.
    public static func isHeld(path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
