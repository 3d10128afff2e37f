import SwitchyardFileIO
import XCTest
@testable import SwitchyardNotebooks

/// Reading notebooks into prose and command blocks, and writing them back.
final class NotebookParsingTests: XCTestCase {
    let sample = """
        # A notebook

        Some *prose* with trailing spaces.   \r
        ```sh
        switchyard routers   # a shell example: prose, never run
        <!-- switchyard:output -->
        ```

        ```switchyard
        # the routers there are
        switchyard routers
        ```

        <!-- switchyard:output -->
        ```text
        dense
        ```
        <!-- switchyard:end -->

        Between.
        ```switchyard
        train --preset tiny \\
              --router switch \\
              --out runs/x
        ```
        ~~~
        ```switchyard
        not a block: inside a tilde fence
        ```
        ~~~
        The end, without a final line end.
        """

    func testProseAndBlocksRoundTripByteForByte() throws {
        let notebook = try Notebook(text: sample, path: "nb.md")
        XCTAssertEqual(notebook.text, sample)
        XCTAssertEqual(notebook.cells.count, 5)
        guard case .prose(let first) = notebook.cells[0] else { return XCTFail("prose first") }
        XCTAssertTrue(first.hasPrefix("# A notebook\n\nSome *prose* with trailing spaces.   \r\n```sh\n"))
        XCTAssertTrue(first.hasSuffix("```\n\n"), "the sh fence, its marker line and the blank line are prose")
        guard case .prose(let between) = notebook.cells[2] else { return XCTFail("prose between") }
        XCTAssertEqual(between, "\nBetween.\n")
        guard case .prose(let last) = notebook.cells[4] else { return XCTFail("prose last") }
        XCTAssertTrue(last.hasPrefix("~~~\n```switchyard\n"), "a switchyard fence inside ~~~ is prose")
        XCTAssertTrue(last.hasSuffix("The end, without a final line end."))
    }

    func testBlocksTheirLinesAndOutputRegions() throws {
        let notebook = try Notebook(text: sample, path: "nb.md")
        let blocks = notebook.commandBlocks
        XCTAssertEqual(blocks.count, 2)
        XCTAssertEqual(blocks[0].line, 9)
        XCTAssertEqual(blocks[0].body, ["# the routers there are", "switchyard routers"])
        XCTAssertEqual(blocks[0].source, "```switchyard\n# the routers there are\nswitchyard routers\n```\n")
        let output = try XCTUnwrap(blocks[0].output)
        XCTAssertEqual(output.line, 14)
        XCTAssertEqual(output.content, "```text\ndense\n```\n")
        XCTAssertEqual(output.source, "\n<!-- switchyard:output -->\n```text\ndense\n```\n<!-- switchyard:end -->\n")
        XCTAssertEqual(blocks[1].line, 21)
        XCTAssertNil(blocks[1].output)
        XCTAssertEqual(blocks[1].body.count, 3)
    }

    func testContinuationLinesAndComments() throws {
        let notebook = try Notebook(text: sample, path: "nb.md")
        let first = try CommandTokenizer.command(of: notebook.commandBlocks[0], file: "nb.md")
        XCTAssertEqual(first.map(\.text), ["routers"], "comment skipped, leading switchyard dropped")
        XCTAssertEqual(first[0].line, 11)
        XCTAssertEqual(first[0].column, 12)
        let second = try CommandTokenizer.command(of: notebook.commandBlocks[1], file: "nb.md")
        XCTAssertEqual(second.map(\.text), ["train", "--preset", "tiny", "--router", "switch", "--out", "runs/x"])
        XCTAssertEqual(second.map(\.line), [22, 22, 22, 23, 23, 24, 24])
        XCTAssertEqual(second[3].column, 7)

        let commented = try Notebook(text: "```switchyard\ntrain \\\n  # the router\n  --router switch\n\n```\n", path: "c.md")
        XCTAssertEqual(try CommandTokenizer.command(of: commented.commandBlocks[0], file: "c.md").map(\.text),
                       ["train", "--router", "switch"], "a comment line inside a continued command is skipped")
    }

    func testOneSubcommandPerBlockAndNoEmptyBlocks() throws {
        let two = try Notebook(text: "```switchyard\nrouters\npresets\n```\n", path: "two.md")
        XCTAssertThrowsError(try CommandTokenizer.command(of: two.commandBlocks[0], file: "two.md")) { error in
            XCTAssertEqual((error as? InputError)?.location, "line 3", "\(error)")
            XCTAssertTrue("\(error)".contains("one subcommand"), "\(error)")
        }
        let empty = try Notebook(text: "text\n```switchyard\n# nothing\n\n```\n", path: "empty.md")
        XCTAssertThrowsError(try CommandTokenizer.command(of: empty.commandBlocks[0], file: "empty.md")) { error in
            XCTAssertEqual("\(error)", "empty.md: line 2: this ```switchyard block has no command; give one Switchyard subcommand, e.g. `routers`")
        }
        let bare = try Notebook(text: "```switchyard\nswitchyard\n```\n", path: "bare.md")
        XCTAssertThrowsError(try CommandTokenizer.command(of: bare.commandBlocks[0], file: "bare.md"))
    }

    func testMalformedNotebooksNameFileAndLine() {
        let cases: [(text: String, line: String, words: String)] = [
            ("intro\n\n```switchyard\nrouters\n", "line 3", "never closed"),
            ("intro\n```sh\necho\n", "line 2", "never closed"),
            ("```switchyard\nrouters\n```\n<!-- switchyard:output -->\n```text\nx\n```\n", "line 4", "no <!-- switchyard:end -->"),
            ("prose\n<!-- switchyard:end -->\n", "line 2", "without a ```switchyard block"),
            ("prose\n\n<!-- switchyard:output -->\nx\n<!-- switchyard:end -->\n", "line 3", "not right after"),
            ("```switchyard\nrouters\n```\nprose\n<!-- switchyard:output -->\n<!-- switchyard:end -->\n", "line 5", "not right after"),
            ("```switchyard {timeout=5}\nrouters\n```\n", "line 1", "no attributes"),
        ]
        for c in cases {
            XCTAssertThrowsError(try Notebook(text: c.text, path: "Notebooks-md/bad.md"), c.text) { error in
                let e = error as? InputError
                XCTAssertEqual(e?.file, "Notebooks-md/bad.md", c.text)
                XCTAssertEqual(e?.location, c.line, "\(error)")
                XCTAssertTrue("\(error)".contains(c.words), "\(error)")
            }
        }
    }

    func testFenceDetails() throws {
        // A longer opening fence needs a closing fence at least as long; four-space indentation is no fence.
        let text = "````switchyard\nrouters\n```\n````\n    ```switchyard\n    x\nend\n"
        let notebook = try Notebook(text: text, path: "f.md")
        XCTAssertEqual(notebook.commandBlocks.count, 1)
        XCTAssertEqual(notebook.commandBlocks[0].body, ["routers", "```"])
        XCTAssertEqual(notebook.text, text)
        // Other languages and a language merely starting with "switchyard" are prose.
        let other = "```switchyard-like\nx\n```\n```text\n<!-- switchyard:end -->\n```\n"
        XCTAssertEqual(try Notebook(text: other, path: "o.md").cells, [.prose(other)])
    }

    func testReplacingOutputs() throws {
        var notebook = try Notebook(text: sample, path: "nb.md")
        notebook.replaceOutput(ofBlock: 0, with: "new\n")
        notebook.replaceOutput(ofBlock: 1, with: "```text\ntrained\n```\n")
        let expected = sample
            .replacingOccurrences(of: "```text\ndense\n```\n", with: "new\n")
            .replacingOccurrences(of: "      --out runs/x\n```\n", with: """
                      --out runs/x
                ```

                <!-- switchyard:output -->
                ```text
                trained
                ```
                <!-- switchyard:end -->

                """)
        XCTAssertEqual(notebook.text, expected)
        XCTAssertEqual(try Notebook(text: notebook.text, path: "nb.md").text, notebook.text)
    }

    func testOutputAfterABlockAtTheEndOfTheFile() throws {
        var notebook = try Notebook(text: "```switchyard\nrouters\n```", path: "end.md")
        notebook.replaceOutput(ofBlock: 0, with: "x\n")
        XCTAssertEqual(notebook.text, "```switchyard\nrouters\n```\n\n<!-- switchyard:output -->\nx\n<!-- switchyard:end -->\n")
    }

    /// Found by fuzz-notebook: a notebook starting with a UTF-8 byte order mark lost it when
    /// read (String(data:encoding:) drops it), so running it rewrote the file's first bytes.
    func testAByteOrderMarkIsKept() throws {
        let text = "\u{FEFF}```switchyard\nrouters\n```\nprose\n"
        let path = NSTemporaryDirectory() + "notebook-\(UUID().uuidString).md"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        var notebook = try Notebook(contentsOf: path)
        XCTAssertEqual(Array(notebook.text.utf8), Array(text.utf8))
        XCTAssertEqual(notebook.commandBlocks.map(\.body), [["routers"]])
        XCTAssertEqual(notebook.commandBlocks.first?.line, 1)
        notebook.replaceOutput(ofBlock: 0, with: "dense\n")
        XCTAssertTrue(notebook.text.hasPrefix("\u{FEFF}```switchyard\nrouters\n```\n\n<!-- switchyard:output -->\ndense\n"))
        XCTAssertEqual(try Notebook(text: notebook.text, path: path).text, notebook.text)
    }

    func testReadingFiles() throws {
        XCTAssertThrowsError(try Notebook(contentsOf: "/nonexistent/nb.md")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/nb.md: no such notebook file")
        }
        let path = NSTemporaryDirectory() + "notebook-\(UUID().uuidString).md"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data([0x66, 0xff, 0xfe, 0x0a]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Notebook(contentsOf: path)) { error in
            XCTAssertTrue("\(error)".contains("not UTF-8"), "\(error)")
        }
    }
}
