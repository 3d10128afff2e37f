import SwitchyardFileIO
import Foundation

/// Where a path really leads: an absolute path with `.` and `..` removed and every symbolic
/// link of the part that exists resolved, component by component as the kernel would, so
/// that `runs/link/../x` with `link` pointing elsewhere resolves to where the kernel goes.
/// The part that does not exist yet (a file a command will write) is appended as written.
public enum PhysicalPath {
    /// The physical form of `path`, taken relative to `base` (an absolute path, itself
    /// resolved first) unless it is absolute.
    ///
    /// Throws an ``InputError`` for an empty path, a dangling symbolic link or a link loop:
    /// where such a path leads cannot be known before a command follows it.
    public static func resolve(_ path: String, relativeTo base: String) throws -> String {
        guard !path.isEmpty else { throw InputError(message: "an empty path") }
        var resolved: String
        if path.hasPrefix("/") {
            resolved = "/"
        } else {
            guard base.hasPrefix("/") else { throw InputError(message: "'\(base)' is not an absolute directory") }
            resolved = try resolve(base, relativeTo: "/")
        }
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".":
                continue
            case "..":
                resolved = parent(of: resolved)
            default:
                let candidate = resolved == "/" ? "/\(component)" : "\(resolved)/\(component)"
                var status = stat()
                if lstat(candidate, &status) == 0, (status.st_mode & S_IFMT) == S_IFLNK {
                    guard let target = realPath(candidate) else {
                        throw InputError(file: candidate, message: "a symbolic link whose target does not exist or loops, so where it leads cannot be checked")
                    }
                    resolved = target
                } else {
                    resolved = candidate
                }
            }
        }
        return resolved
    }

    /// The physical form of `path` relative to the current directory.
    public static func resolve(_ path: String) throws -> String {
        try resolve(path, relativeTo: FileManager.default.currentDirectoryPath)
    }

    /// Whether the physical path `path` is `directory` or lies below it.
    public static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private static func realPath(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
