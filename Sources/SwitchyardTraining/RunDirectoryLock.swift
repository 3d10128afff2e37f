import SwitchyardFileIO
import Foundation

/// The exclusive right to write a run directory, held for the life of a run: an `flock` on
/// `DIR/.lock`, which records the holder's pid. A second writer is refused with that pid; the
/// kernel releases the lock when its holder exits in any way (SIGKILL included), so the lock of
/// a dead process is simply taken over. The file stays (removing it would let two processes
/// lock two different files of the same name).
///
/// Acquiring a directory this process already holds returns another handle on the same lock
/// (the command line locks before preparing the directory, the trainer again when it runs).
public final class RunDirectoryLock {
    /// The lock file's name inside the run directory.
    public static let fileName = ".lock"

    /// The run directory, physical.
    public let directory: String
    /// Whether acquiring it created the directory.
    public let createdDirectory: Bool

    private static let registryLock = NSLock()
    nonisolated(unsafe) private static var held: [String: (descriptor: Int32, count: Int)] = [:]

    /// Locks `directory`, creating it (and its parents) if needed.
    ///
    /// - Throws: an ``InputError`` naming the directory and the holder's pid if another process
    ///   holds the lock, or the reason the directory or its lock file cannot be created.
    public init(directory path: String) throws {
        var isDirectory: ObjCBool = false
        let existed = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if existed, !isDirectory.boolValue {
            throw InputError(file: path, message: "exists and is not a directory; --out names the run directory")
        }
        if !existed {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw InputError(file: path, message: "cannot create the run directory (\(error.localizedDescription))")
            }
        }
        createdDirectory = !existed
        guard let real = realpath(path, nil) else {
            throw InputError(file: path, message: "cannot resolve the run directory (\(String(cString: strerror(errno))))")
        }
        directory = String(cString: real)
        free(real)
        RunDirectoryLock.registryLock.lock()
        defer { RunDirectoryLock.registryLock.unlock() }
        if let entry = RunDirectoryLock.held[directory] {
            RunDirectoryLock.held[directory] = (entry.descriptor, entry.count + 1)
            return
        }
        let file = directory + "/" + RunDirectoryLock.fileName
        let descriptor = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw InputError(file: file, message: "cannot create the run's lock file (\(String(cString: strerror(errno))))")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let reason = errno
            let holder = RunDirectoryLock.holder(descriptor)
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw InputError(file: file, message: "cannot lock the run directory (\(String(cString: strerror(reason))))")
            }
            throw InputError(file: path, message: """
                another process is writing this run directory (\(holder.map { "pid \($0)" } ?? "pid unknown"), \
                holding \(file)); two runs in one directory would overwrite each other's files: wait for it \
                to finish, stop it, or choose another --out
                """)
        }
        let text = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        RunDirectoryLock.held[directory] = (descriptor, 1)
    }

    deinit { release() }

    private var released = false

    /// Gives the lock up (also done when the handle is freed, or by the kernel when the process
    /// ends). With `removingCreatedDirectory`, a directory this lock created and that holds
    /// nothing but the lock file is removed (a run refused before it wrote anything).
    public func release(removingCreatedDirectory: Bool = false) {
        guard !released else { return }
        released = true
        RunDirectoryLock.registryLock.lock()
        defer { RunDirectoryLock.registryLock.unlock() }
        guard let entry = RunDirectoryLock.held[directory] else { return }
        if entry.count > 1 {
            RunDirectoryLock.held[directory] = (entry.descriptor, entry.count - 1)
            return
        }
        RunDirectoryLock.held[directory] = nil
        if removingCreatedDirectory, createdDirectory,
           (try? FileManager.default.contentsOfDirectory(atPath: directory)) == [RunDirectoryLock.fileName] {
            unlink(directory + "/" + RunDirectoryLock.fileName)
            rmdir(directory)
        } else {
            _ = ftruncate(entry.descriptor, 0)
        }
        close(entry.descriptor)
    }

    /// The pid written in an open lock file, if any.
    private static func holder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(descriptor, &buffer, 31, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
