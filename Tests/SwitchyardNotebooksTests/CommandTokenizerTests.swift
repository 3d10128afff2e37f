import SwitchyardFileIO
import XCTest
@testable import SwitchyardNotebooks

/// Splitting commands into arguments without a shell, and refusing shell syntax.
final class CommandTokenizerTests: XCTestCase {
    func tokens(_ line: String) throws -> [String] {
        try CommandTokenizer.tokenize(line: line, number: 7, file: "nb.md").tokens.map(\.text)
    }

    func testWhitespaceAndQuotes() throws {
        XCTAssertEqual(try tokens("  train\t--out  runs/a  "), ["train", "--out", "runs/a"])
        XCTAssertEqual(try tokens("analyze 'my runs/a b' \"x y\""), ["analyze", "my runs/a b", "x y"])
        XCTAssertEqual(try tokens("train --set=\"model.width=128\" a'b c'd"), ["train", "--set=model.width=128", "ab cd"])
        XCTAssertEqual(try tokens("x '' \"\""), ["x", "", ""], "empty quotes are empty arguments")
        XCTAssertEqual(try tokens("x 'a | b; $HOME `id` (*) ~ # \\'"), ["x", "a | b; $HOME `id` (*) ~ # \\"],
                       "single quotes keep everything")
        XCTAssertEqual(try tokens("x \"a | b > c $HOME ~\""), ["x", "a | b > c $HOME ~"], "double quotes keep metacharacters")
        XCTAssertEqual(try tokens("x a~b c#d e=f"), ["x", "a~b", "c#d", "e=f"], "~ and # only count at the start")
    }

    func testBackslashEscapesInsideDoubleQuotes() throws {
        XCTAssertEqual(try tokens(#"x "say \"hi\"" "back\\slash" "keep \n as is""#), ["x", #"say "hi""#, #"back\slash"#, #"keep \n as is"#])
        XCTAssertEqual(try tokens(#"x 'no \' escapes"#), ["x", #"no \"#, "escapes"], "no escapes in single quotes")
    }

    func testColumnsAndContinuation() throws {
        let result = try CommandTokenizer.tokenize(line: "  train  'a b'  --out \\  ", number: 4, file: nil)
        XCTAssertEqual(result.tokens, [CommandToken(text: "train", line: 4, column: 3),
                                       CommandToken(text: "a b", line: 4, column: 10),
                                       CommandToken(text: "--out", line: 4, column: 17)])
        XCTAssertTrue(result.continues)
        XCTAssertFalse(try CommandTokenizer.tokenize(line: "train", number: 1, file: nil).continues)
    }

    func testEveryShellMetacharacterIsRefusedWithItsColumn() {
        for character in ["|", ";", "&", ">", "<", "`", "$", "(", ")", "*", "?"] {
            for (line, column) in [("analyze runs/a \(character) x", 16), ("analyze runs\(character)a", 13),
                                   ("\(character)analyze", 1)] {
                XCTAssertThrowsError(try tokens(line), line) { error in
                    let e = error as? InputError
                    XCTAssertEqual(e?.file, "nb.md")
                    XCTAssertEqual(e?.location, "line 7, column \(column)", line)
                    XCTAssertTrue(e?.message.contains("not a shell") == true, "\(error)")
                    XCTAssertTrue(e?.message.hasPrefix("'\(character)'") == true, "\(error)")
                }
            }
        }
        for (line, column) in [("analyze ~/runs", 9), ("analyze a ~", 11), ("train # comment", 7)] {
            XCTAssertThrowsError(try tokens(line), line) { error in
                XCTAssertEqual((error as? InputError)?.location, "line 7, column \(column)", "\(error)")
            }
        }
        XCTAssertThrowsError(try tokens("analyze ~")) { error in
            XCTAssertTrue("\(error)".contains("not a shell"), "\(error)")
        }
    }

    func testUnclosedQuotesAndStrayBackslashes() {
        for (line, column, words) in [("x 'abc", 3, "single quote"), ("x \"ab\\\"", 3, "double quote"),
                                      ("x a\\ b", 4, "backslash outside quotes")] {
            XCTAssertThrowsError(try tokens(line), line) { error in
                XCTAssertEqual((error as? InputError)?.location, "line 7, column \(column)", "\(error)")
                XCTAssertTrue("\(error)".contains(words), "\(error)")
            }
        }
    }

    func testRefusalInsideABlockNamesTheNotebookLine() throws {
        let notebook = try Notebook(text: "intro\n\n```switchyard\ntrain \\\n  --out runs/a > log\n```\n", path: "Notebooks-md/01.md")
        XCTAssertThrowsError(try CommandTokenizer.command(of: notebook.commandBlocks[0], file: notebook.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("Notebooks-md/01.md: line 5, column 16: '>' is shell syntax"), "\(error)")
        }
    }
}
