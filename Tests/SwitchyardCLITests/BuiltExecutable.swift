import Foundation
import XCTest

/// The `switchyard` executable that `swift build` / `swift test` put beside the test bundle,
/// run as a child process: for what only a real process shows (exit codes, signals, notebooks
/// whose blocks run as child processes).
enum BuiltExecutable {
    /// Its path; an error when it was not built.
    static func path() throws -> String {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let path = bundle.appendingPathComponent("switchyard").path
        return try XCTUnwrap(FileManager.default.isExecutableFile(atPath: path) ? path : nil,
                             "no switchyard executable beside the tests at \(path); run `swift build` first")
    }

    /// Starts it with `arguments` in `directory`, standard output and error going to files there.
    static func start(_ arguments: [String], in directory: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path())
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = directory + "/.stdout", err = directory + "/.stderr"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        return process
    }

    /// Runs it to the end; returns exit status, standard output and standard error.
    static func run(_ arguments: [String], in directory: String) throws -> (status: Int32, output: String, errors: String) {
        let process = try start(arguments, in: directory)
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOfFile: directory + "/.stdout", encoding: .utf8),
                try String(contentsOfFile: directory + "/.stderr", encoding: .utf8))
    }
}
