import Foundation
import XCTest

/// docs/architecture.md's module table must name every non-test target of Package.swift with
/// exactly its dependencies, so the map cannot drift from the build.
final class ArchitectureTableTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testModuleTableMatchesPackageManifest() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        let targets = PackageManifestTargets.parse(manifest)
        XCTAssertGreaterThan(targets.count, 10, "the manifest parser found too few targets")
        let table = ModuleTable.parse(doc)
        XCTAssertEqual(Set(table.keys), Set(targets.keys),
                       "modules only in Package.swift: \(Set(targets.keys).subtracting(table.keys).sorted()); only in the table: \(Set(table.keys).subtracting(targets.keys).sorted())")
        for (name, dependencies) in targets {
            XCTAssertEqual(table[name], dependencies, "dependencies of \(name): table vs Package.swift")
        }
    }

    func testParsersReadWhatTheyShould() {
        let manifest = """
            .target(name: "A", dependencies: ["B", .product(name: "P", package: "p")]),
            .systemLibrary(name: "B", pkgConfig: "b"),
            .testTarget(name: "ATests", dependencies: ["A"]),
            .executableTarget(name: "c", dependencies: ["A"]),
            """
        XCTAssertEqual(PackageManifestTargets.parse(manifest), ["A": ["B", "P"], "B": [], "c": ["A"]])
        let doc = """
            | module | holds | depends on |
            |---|---|---|
            | `A` | things, with a `Tensor` | `B`, `P` |
            | `B` (in `Tests/`) | x | — |
            """
        XCTAssertEqual(ModuleTable.parse(doc), ["A": ["B", "P"], "B": []])
    }
}

/// The non-test targets of a Package.swift and the names of their dependencies (targets and
/// products), read from the text (the manifest is Swift; this reads the literal forms it uses).
enum PackageManifestTargets {
    static func parse(_ text: String) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        let chars = Array(text)
        let openers = [".target(", ".systemLibrary(", ".executableTarget("]
        var i = 0
        while i < chars.count {
            guard let opener = openers.first(where: { matches(chars, at: i, $0) }) else { i += 1; continue }
            let start = i + opener.count
            var depth = 1, j = start
            while j < chars.count, depth > 0 {
                if chars[j] == "(" || chars[j] == "[" { depth += 1 }
                if chars[j] == ")" || chars[j] == "]" { depth -= 1 }
                j += 1
            }
            let body = String(chars[start..<max(start, j - 1)])
            if let name = firstString(after: "name:", in: body) {
                result[name] = dependencies(in: body)
            }
            i = j
        }
        return result
    }

    private static func matches(_ chars: [Character], at i: Int, _ word: String) -> Bool {
        let w = Array(word)
        return i + w.count <= chars.count && Array(chars[i..<i + w.count]) == w
    }

    private static func firstString(after key: String, in body: String) -> String? {
        guard let r = body.range(of: key) else { return nil }
        let rest = body[r.upperBound...]
        guard let q1 = rest.firstIndex(of: "\"") else { return nil }
        let after = rest[rest.index(after: q1)...]
        guard let q2 = after.firstIndex(of: "\"") else { return nil }
        return String(after[..<q2])
    }

    private static func dependencies(in body: String) -> Set<String> {
        guard let r = body.range(of: "dependencies:") else { return [] }
        let rest = Array(body[r.upperBound...])
        guard let open = rest.firstIndex(of: "[") else { return [] }
        var depth = 0, end = open
        for k in open..<rest.count {
            if rest[k] == "[" { depth += 1 }
            if rest[k] == "]" { depth -= 1; if depth == 0 { end = k; break } }
        }
        let list = String(rest[(open + 1)..<end])
        var names: Set<String> = []
        // A plain string is a target; in .product(name: "P", package: "p") only P counts.
        var scan = list[...]
        while let q1 = scan.firstIndex(of: "\"") {
            let after = scan[scan.index(after: q1)...]
            guard let q2 = after.firstIndex(of: "\"") else { break }
            let value = String(after[..<q2])
            let before = scan[..<q1].trimmingCharacters(in: .whitespaces)
            if !before.hasSuffix("package:") { names.insert(value) }
            scan = after[after.index(after: q2)...]
        }
        return names
    }
}

/// The module table of docs/architecture.md: the first backticked name of each row's first
/// cell, and the backticked names of its last cell ("—" for none).
enum ModuleTable {
    static func parse(_ text: String) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, let name = backticked(cells[1]).first else { continue }
            result[name] = Set(backticked(cells[cells.count - 2]))
        }
        return result
    }

    private static func backticked(_ cell: String) -> [String] {
        cell.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }
}
