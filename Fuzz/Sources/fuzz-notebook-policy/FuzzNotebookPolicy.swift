// fuzz-notebook-policy: one command's arguments, one per line, checked by NotebookPolicy.check
// with the policy of `switchyard notebook run` (runs/ and reports/ writable, the notebook
// protected, a readable directory, links in and out of the working directory). A command the
// policy accepts is checked again independently: every value after any '=' that looks like a
// path, and every output option's value, must resolve where the policy says it may.
import SwitchyardFileIO
import Foundation
import FuzzSupport
import SwitchyardNotebooks

let outputOptions: Set<String> = ["--out", "--json", "--trace"]
let pathOptions: Set<String> = ["--config", "--data-dir"]

/// The working directory: runs/ and reports/, the notebook, a file, links out, to the notebook
/// and nowhere.
let policy: NotebookPolicy = {
    let work = Fuzz.path("work")
    for directory in ["work/runs/a", "work/reports", "data", "elsewhere"] {
        try? FileManager.default.createDirectory(atPath: Fuzz.path(directory), withIntermediateDirectories: true)
    }
    Fuzz.write(Array("# notebook\n".utf8), to: "work/nb.md")
    Fuzz.write(Array("token,layer,expert\n".utf8), to: "work/trace.csv")
    _ = symlink(Fuzz.path("data"), work + "/data")
    _ = symlink(Fuzz.path("elsewhere"), work + "/runs/out")
    _ = symlink("../nb.md", work + "/runs/alias.md")
    _ = symlink("/nonexistent", work + "/runs/dangling")
    return try! NotebookPolicy(
        allowedSubcommands: ["train", "eval", "analyze", "report", "compare"], workingDirectory: work,
        readableDirectories: [Fuzz.path("data")], writableDirectories: ["runs", "reports"],
        protectedFiles: [work + "/nb.md"], outputOptions: outputOptions, pathOptions: pathOptions)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let policy = policy
    let lines = String(decoding: Fuzz.bytes(data, size), as: UTF8.self)
        .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let tokens = lines.enumerated().map { CommandToken(text: $0.element, line: $0.offset + 1, column: 1) }
    var accepted = false
    Fuzz.parse(requireFile: false) {
        _ = try policy.check(tokens, file: nil)
        accepted = true
    }
    guard accepted else { return 0 }
    func inside(_ path: String, _ directories: [String]) -> Bool {
        guard let resolved = try? PhysicalPath.resolve(path, relativeTo: policy.resolvedWorkingDirectory) else { return false }
        return directories.contains { PhysicalPath.isInside(resolved, $0) }
    }
    var i = 1
    while i < lines.count {
        let text = lines[i]
        var values: [(value: String, writes: Bool)] = []
        if outputOptions.contains(text) || pathOptions.contains(text), i + 1 < lines.count {
            values.append((lines[i + 1], outputOptions.contains(text)))
            i += 1
        } else {
            if text.hasPrefix("-"), let equals = text.firstIndex(of: "=") {
                let option = String(text[..<equals])
                if outputOptions.contains(option) || pathOptions.contains(option) {
                    values.append((String(text[text.index(after: equals)...]), outputOptions.contains(option)))
                }
            } else if policy.looksLikePath(text) {
                values.append((text, false))
            }
            var rest = Substring(text)
            while let equals = rest.firstIndex(of: "=") {
                rest = rest[rest.index(after: equals)...]
                if policy.looksLikePath(String(rest)) { values.append((String(rest), false)) }
            }
        }
        for (value, writes) in values {
            Fuzz.check(inside(value, writes ? policy.resolvedWritableDirectories : policy.resolvedReadableDirectories),
                       "accepted '\(value)' (\(writes ? "written" : "read")) leads outside")
            if writes, let resolved = try? PhysicalPath.resolve(value, relativeTo: policy.resolvedWorkingDirectory) {
                Fuzz.check(!policy.protectedFiles.contains { PhysicalPath.isInside($0, resolved) },
                           "accepted '\(value)', which writes the notebook")
            }
        }
        i += 1
    }
    return 0
}

@main enum FuzzNotebookPolicy {
    static func main() { Fuzz.main() }
}
