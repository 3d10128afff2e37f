import SwitchyardFileIO
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What every fuzz target shares: a private temporary directory for the files a parser reads,
/// the splitting of one input into several files, and the rule that bad input may only end
/// in an `InputError` naming the file.
public enum Fuzz {
    /// The separator between the files of one input, for targets whose parser reads several
    /// files (IDX images and labels, the NumPy arrays of a trace, config.json and --set values).
    public static let separator: [UInt8] = Array("%%%%".utf8)

    /// This process's own temporary directory, created on first use and removed at exit.
    public static let directory: String = {
        let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("switchyard-fuzz-XXXXXX")
        var buffer = Array(template.utf8CString)
        guard let made = mkdtemp(&buffer) else { fatalError("fuzz: cannot create a temporary directory from \(template)") }
        let path = String(cString: made)
        atexit { try? FileManager.default.removeItem(atPath: Fuzz.directory) }
        return path
    }()

    /// The path of `name` inside ``directory``.
    public static func path(_ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    /// The input of one iteration as an array.
    public static func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
        [UInt8](UnsafeBufferPointer(start: data, count: size))
    }

    /// Writes `bytes` to `name` in ``directory`` (replacing what the last iteration wrote) and
    /// returns its path.
    @discardableResult
    public static func write(_ bytes: [UInt8], to name: String) -> String {
        let path = path(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fatalError("fuzz: cannot write \(path) (errno \(errno))") }
        defer { close(fd) }
        var done = 0
        bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                guard n > 0 else { fatalError("fuzz: short write to \(path) (errno \(errno))") }
                done += n
            }
        }
        return path
    }

    /// Removes `name` from ``directory`` if it is there.
    public static func remove(_ name: String) {
        unlink(path(name))
    }

    /// `bytes` cut at every ``separator``, into at most `maximum` parts (the last part keeps
    /// any further separators).
    public static func split(_ bytes: [UInt8], maximum: Int) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var start = 0, i = 0
        let s = separator
        while i + s.count <= bytes.count && parts.count < maximum - 1 {
            if bytes[i] == s[0] && Array(bytes[i..<(i + s.count)]) == s {
                parts.append(Array(bytes[start..<i]))
                i += s.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(Array(bytes[start...]))
        return parts
    }

    /// Runs one parse. An `InputError` is the expected outcome of bad input; it must name a
    /// file when `requireFile` is set and always say what is wrong. Any other error is a
    /// finding: the process aborts, and libFuzzer saves the input as a crash.
    public static func parse(requireFile: Bool = true, _ body: () throws -> Void) {
        do {
            try body()
        } catch let error as InputError {
            if requireFile && (error.file ?? "").isEmpty {
                fatalError("fuzz: InputError without a file: \(error)")
            }
            if error.message.isEmpty {
                fatalError("fuzz: InputError without a message: \(error)")
            }
        } catch {
            fatalError("fuzz: \(type(of: error)) instead of an InputError: \(error)")
        }
    }

    /// Fails (a libFuzzer crash) unless `condition` holds: an invariant of a successful parse.
    public static func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
        if !condition() { fatalError("fuzz: \(message())") }
    }
}

import CLibFuzzer

extension Fuzz {
    /// Runs libFuzzer on the target's `LLVMFuzzerTestOneInput` with the process's arguments
    /// and exits with its status: the body of every target's `@main`.
    public static func main() -> Never {
        exit(switchyard_libfuzzer_main(CommandLine.argc, CommandLine.unsafeArgv))
    }
}
