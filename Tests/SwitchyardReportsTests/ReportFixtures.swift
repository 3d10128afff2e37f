import Foundation
import SwitchyardReports
import SwitchyardRoutingStatistics

/// The committed run directories (tiny preset, 640 training and 60 test images, 2 epochs) and
/// the snapshot folder, located from this file so that tests need no bundle.
enum ReportFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static func run(_ name: String) -> String { folder.appendingPathComponent("Fixtures/runs/\(name)").path }
    static let allRuns = ["switch-s0", "switch-s1", "expert-choice-s0", "expert-choice-s1"]
    /// Few resamples keep the tests fast; fixed seed keeps them exact.
    static let options = AnalysisOptions(bootstrapResamples: 50, permutations: 50, seed: 7)

    /// Loads fixture runs by paths relative to `Fixtures/`, as a user gives them, so that
    /// the reports (which name the run directory as given) do not depend on the checkout's place.
    static func reports(_ names: [String]) throws -> [RunReport] {
        let previous = FileManager.default.currentDirectoryPath
        guard FileManager.default.changeCurrentDirectoryPath(folder.appendingPathComponent("Fixtures").path) else {
            throw CocoaError(.fileNoSuchFile)
        }
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        return try names.map { try RunReport.load(run: "runs/\($0)", options: options) }
    }

    static func report(_ name: String) throws -> RunReport { try reports([name])[0] }

    /// Compares `document` with the snapshot folder `name`, file by file; with the environment
    /// variable SWITCHYARD_RECORD_SNAPSHOTS=1 it writes the snapshot instead.
    static func assertMatchesSnapshot(_ document: ReportDocument, _ name: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let directory = folder.appendingPathComponent("Snapshots/\(name)").path
        if ProcessInfo.processInfo.environment["SWITCHYARD_RECORD_SNAPSHOTS"] == "1" {
            try? FileManager.default.removeItem(atPath: directory)
            try document.write(to: directory)
            return []
        }
        var mismatches: [String] = []
        func compare(_ relative: String, _ text: String) {
            let path = (directory as NSString).appendingPathComponent(relative)
            guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
                mismatches.append("\(relative): no snapshot (record with SWITCHYARD_RECORD_SNAPSHOTS=1)")
                return
            }
            if expected != text {
                let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
                let b = text.split(separator: "\n", omittingEmptySubsequences: false)
                let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
                mismatches.append("\(relative): differs at line \(i + 1):\n  snapshot: \(i < a.count ? String(a[i]) : "<end>")\n  now:      \(i < b.count ? String(b[i]) : "<end>")")
            }
        }
        compare("report.md", document.markdown)
        for f in document.files { compare(f.name, f.contents) }
        let expectedCharts = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/charts")) ?? []
        let produced = Set(document.files.map { ($0.name as NSString).lastPathComponent })
        for extra in expectedCharts where !produced.contains(extra) { mismatches.append("charts/\(extra): in the snapshot, not produced") }
        return mismatches
    }
}
