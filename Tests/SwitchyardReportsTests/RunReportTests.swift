import SwitchyardFileIO
import Foundation
import SwitchyardReports
import SwitchyardRoutingStatistics
import SwitchyardTraining
import XCTest

final class RunReportTests: XCTestCase {
    func testRunReportMatchesSnapshot() throws {
        let document = try ReportFixtures.report("switch-s0").document()
        let mismatches = try ReportFixtures.assertMatchesSnapshot(document, "switch-s0")
        XCTAssertTrue(mismatches.isEmpty, mismatches.joined(separator: "\n"))
    }

    func testTheOpeningSaysWhenLoadIntervalsResampledTestBatches() throws {
        var report = try ReportFixtures.report("switch-s0")
        XCTAssertFalse(try report.document().markdown.contains("routing groups"))
        report.analysis?.resampling.loadRoutingGroups = 79
        report.analysis?.resampling.loadGroupsPerUnit = 1
        let opening = try XCTUnwrap(try report.document().markdown.split(separator: "\n").first { $0.contains("Intervals in brackets") })
        XCTAssertTrue(opening.contains("over 50 resamples of the test set's images; for the load numbers (CV, Gini, MaxVio, experts per token), of its 79 evaluation batches, the routing groups (seed 7)."),
                      String(opening))
    }

    func testSameInputsGiveTheSameBytes() throws {
        let a = try ReportFixtures.report("expert-choice-s0").document()
        let b = try ReportFixtures.report("expert-choice-s0").document()
        XCTAssertEqual(a, b)
        let root = NSTemporaryDirectory() + "report-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try a.write(to: root)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), a.markdown)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "no temporary files left behind")
    }

    func testEverySectionAndEveryChartIsLinkedWithItsNumbers() throws {
        let document = try ReportFixtures.report("switch-s0").document()
        let md = document.markdown
        for heading in ["## What this says", "## Training curves", "## Accuracy by class", "## Load balance",
                        "## Token–expert affinity", "## Compute per token", "## Stability", "## Configuration"] {
            XCTAssertTrue(md.contains(heading + "\n"), "missing \(heading)")
        }
        let links = md.components(separatedBy: "](charts/").dropFirst().map { "charts/" + $0.prefix { $0 != ")" } }
        XCTAssertEqual(Set(links), Set(document.files.map(\.name)), "every chart linked, every link a chart")
        for name in ["charts/loss.svg", "charts/accuracy.svg", "charts/auxiliary-loss.svg", "charts/load-cv.svg",
                     "charts/class-accuracy.svg", "charts/load.svg", "charts/affinity-layer-0.svg",
                     "charts/affinity-layer-1.svg", "charts/compute-per-token.svg"] {
            XCTAssertTrue(links.contains(name), "missing chart \(name)")
            // The chart's numbers follow it: a table within the next few lines.
            let after = md.components(separatedBy: "](\(name))").last!.split(separator: "\n").prefix(8)
            XCTAssertTrue(after.contains { $0.hasPrefix("| ") || $0.hasPrefix("<details>") }, "no table next to \(name)")
        }
        for file in document.files { XCTAssertTrue(file.contents.hasPrefix("<svg") || file.contents.hasPrefix("<?xml"), file.name) }
    }

    func testNumbersInTheReportAreTheRunsNumbers() throws {
        let report = try ReportFixtures.report("switch-s0")
        let md = report.document().markdown
        let last = report.run.epochs.last!
        XCTAssertTrue(md.contains("| final test accuracy | \(String(format: "%.2f%%", last.testAccuracy * 100)) |"))
        let layer0 = report.analysis!.layers[0]
        XCTAssertTrue(md.contains("| layer 0 | \(layer0.load.assignments.formatted(.number.grouping(.automatic)).replacingOccurrences(of: "\u{202F}", with: ","))")
                      || md.contains(String(format: "%.3f", layer0.load.cv!)), "layer 0 CV in the load table")
        XCTAssertTrue(md.contains(String(format: "%.3f", report.analysis!.overall.headlineMutualInformationBits!)))
    }

    func testFindingsFollowTheNumbers() throws {
        var report = try ReportFixtures.report("switch-s0")
        let before = report.findings().joined(separator: "\n")
        // The trace has images: the χ² test (independent tokens) is not the evidence, the CV interval is.
        XCTAssertTrue(before.contains("departs from uniform (the 95% interval of CV, resampled by image, excludes 0)"), before)
        XCTAssertFalse(before.contains("χ²"), before)
        XCTAssertFalse(before.contains("Unused:"), before)
        // With the load intervals over routing groups, the sentence names that unit.
        var grouped = report
        grouped.analysis!.resampling.loadRoutingGroups = 79
        XCTAssertTrue(grouped.findings().joined().contains("resampled by routing group, excludes 0"))
        // Make layer 1 lose an expert and look uniform: the sentences must follow.
        report.analysis!.layers[1].load.unusedExperts = [2]
        report.analysis!.layers[1].uncertainty!.cv!.lower = 0
        report.analysis!.layers[0].uncertainty!.cv!.lower = 0
        let after = report.findings().joined(separator: "\n")
        XCTAssertTrue(after.contains("Unused: expert 2 of layer 1 took no test token."), after)
        XCTAssertTrue(after.contains("No layer's load departs from uniform"), after)
        XCTAssertFalse(after.contains("got no expert at all"), after)
        report.analysis!.layers[0].load.tokensWithoutExpertFraction = 0.05
        XCTAssertTrue(report.findings().joined().contains("Up to 5.00% of test tokens got no expert at all, in layer 0"))

        let ec = try ReportFixtures.report("expert-choice-s0").findings().joined(separator: "\n")
        XCTAssertTrue(ec.contains("Load is perfectly balanced"), ec)
        XCTAssertTrue(ec.contains("Compute per token varies"), ec)
    }

    func testUnfinishedOrBrokenRunsGiveClearErrors() throws {
        let root = NSTemporaryDirectory() + "report-bad-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertThrowsError(try RunDirectory(path: root + "/missing")) { error in
            XCTAssertTrue("\(error)".contains("missing") && "\(error)".contains("not a run directory"), "\(error)")
        }
        try FileManager.default.copyItem(atPath: ReportFixtures.run("switch-s0"), toPath: root)
        let epochs = root + "/epochs.jsonl"
        let text = try String(contentsOfFile: epochs, encoding: .utf8)
        try (text + "{\"epoch\": \"three\"}\n").write(toFile: epochs, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try RunDirectory(path: root)) { error in
            XCTAssertTrue("\(error)".contains("epochs.jsonl") && "\(error)".contains("line 3"), "\(error)")
        }
        try "".write(toFile: epochs, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try RunDirectory(path: root)) { error in
            XCTAssertTrue("\(error)".contains("no epoch finished"), "\(error)")
        }
    }
}
