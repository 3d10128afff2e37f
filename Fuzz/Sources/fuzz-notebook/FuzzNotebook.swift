// fuzz-notebook: a markdown notebook, read by Notebook(contentsOf:) and planned by
// NotebookRunner.plan (CommandTokenizer on every block, NotebookPolicy on every argument
// and path) as `switchyard notebook run --dry-run` does; nothing is run. A notebook that
// parses must render to exactly its text, and again after its outputs are replaced.
import SwitchyardFileIO
import Foundation
import FuzzSupport
import SwitchyardNotebooks

/// The working directory: a run folder and a file, so that bare names can name entries,
/// and a link out of it.
let work: String = {
    let work = Fuzz.path("work")
    try? FileManager.default.createDirectory(atPath: work + "/runs/a", withIntermediateDirectories: true)
    try? FileManager.default.createDirectory(atPath: Fuzz.path("data"), withIntermediateDirectories: true)
    _ = Fuzz.write(Array("token,layer,expert,weight\n".utf8), to: "work/trace.csv")
    _ = symlink(Fuzz.path("data"), work + "/data")
    _ = symlink("/nonexistent", work + "/dangling")
    return work
}()

/// The policy of `switchyard notebook run` (NotebookRunCommand), with a readable directory.
let runner: NotebookRunner = {
    let policy = try! NotebookPolicy(
        allowedSubcommands: ["train", "eval", "analyze", "report", "compare", "presets", "routers", "bench"],
        workingDirectory: work, readableDirectories: [Fuzz.path("data")],
        outputOptions: ["--out", "--json", "--trace"], pathOptions: ["--config", "--data-dir"])
    return NotebookRunner(policy: policy, executor: { _, _ in fatalError("fuzz-notebook runs nothing") })
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let runner = runner  // creates the working directory on the first run
    let path = Fuzz.write(Fuzz.bytes(data, size), to: "work/notebook.md")
    Fuzz.parse {
        var notebook = try Notebook(contentsOf: path)
        Fuzz.check(Array(notebook.text.utf8) == Fuzz.bytes(data, size), "the notebook does not render to its text")
        Fuzz.parse { _ = try runner.plan(notebook) }
        let blocks = notebook.commandBlocks
        for i in blocks.indices { notebook.replaceOutput(ofBlock: i, with: "output \(i)\n") }
        let again = try Notebook(text: notebook.text, path: path)
        Fuzz.check(again.commandBlocks.map(\.body) == blocks.map(\.body),
                   "the blocks changed when the outputs were replaced")
        Fuzz.check(again.commandBlocks.map { $0.output?.content } == blocks.indices.map { "output \($0)\n" },
                   "the outputs do not read back")
    }
    return 0
}

@main enum FuzzNotebook {
    static func main() { Fuzz.main() }
}
