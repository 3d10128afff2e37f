import Foundation
import SwitchyardReports
import SwitchyardRoutingStatistics
import SwitchyardTraining
import XCTest

final class ComparisonReportTests: XCTestCase {
    func testComparisonMatchesSnapshot() throws {
        let runs = try ReportFixtures.reports(ReportFixtures.allRuns)
        let mismatches = try ReportFixtures.assertMatchesSnapshot(ComparisonReport(runs: runs).document(), "compare")
        XCTAssertTrue(mismatches.isEmpty, mismatches.joined(separator: "\n"))
    }

    func testRunsThatDifferOnlyBySeedFormAGroup() throws {
        let runs = try ReportFixtures.reports(ReportFixtures.allRuns)
        let comparison = ComparisonReport(runs: runs)
        XCTAssertEqual(comparison.groups.map(\.label), ["switch", "expert-choice"])
        XCTAssertEqual(comparison.groups.map { $0.runs.count }, [2, 2])
        let md = comparison.document().markdown
        // Welch's t-test of accuracy between the groups, recomputed here.
        let a = runs[0...1].map { Double($0.run.finalAccuracy) }, b = runs[2...3].map { Double($0.run.finalAccuracy) }
        let welch = try Statistics.welchTTest(a, b)
        let p = welch.p!
        let printed = p < 0.001 ? String(format: "%.1e", p) : String(format: "%.3f", p)
        XCTAssertTrue(md.contains("| switch | expert-choice | test accuracy |"), md)
        XCTAssertTrue(md.contains(" \(printed) |"), "Welch p \(printed) in the table")
        // Mean accuracy with its t interval across the two seeds.
        let interval = Statistics.meanInterval(a)!
        XCTAssertTrue(md.contains(String(format: "%.2f%% [%.2f%%, %.2f%%]", interval.mean * 100, interval.lower * 100, interval.upper * 100)), md)
    }

    func testDetectableDifferencePairedTestsAndTheBHOption() throws {
        let runs = try ReportFixtures.reports(ReportFixtures.allRuns)
        let holm = ComparisonReport(runs: runs)
        let md = holm.document().markdown
        let a = runs[0...1].map { Double($0.run.finalAccuracy) }, b = runs[2...3].map { Double($0.run.finalAccuracy) }
        let w = try Statistics.welchTTest(a, b)
        let detectable = Statistics.minimumDetectableDifference(w)!
        XCTAssertTrue(md.contains("| Holm p | detectable \\|A − B\\| | paired p (by seed) |"), md)
        XCTAssertTrue(md.contains(String(format: "%.2f%%", detectable * 100)), "the accuracy row's detectable difference")
        // The fixtures' two groups ran seeds 0 and 1 each: paired by seed.
        let seeds = runs.map(\.run.configuration.seed)
        XCTAssertEqual(seeds, [0, 1, 0, 1])
        let paired = Statistics.pairedTTest(zip(a, b).map { $0 - $1 })!
        XCTAssertTrue(md.contains("\(paired.p! < 0.001 ? String(format: "%.1e", paired.p!) : String(format: "%.3f", paired.p!)) (Holm "), md)
        XCTAssertTrue(holm.findings().joined().contains("2 seeds cannot detect differences below about \(String(format: "%.2f", detectable * 100)) points"),
                      holm.findings().joined(separator: "\n"))
        let bh = ComparisonReport(runs: runs, correction: .bh)
        let bhText = bh.document().markdown
        XCTAssertTrue(bhText.contains("| BH p |") && bhText.contains("Benjamini–Hochberg adjustment (exploratory)"), bhText)
        XCTAssertTrue(bh.findings().joined().contains("BH-adjusted over 1 comparison"))
        XCTAssertFalse(bh.findings().joined().contains("Holm"))
    }

    func testGroupsWithTheSameRouterAreToldApartByTheirDifferences() throws {
        var runs = try ReportFixtures.reports(Array(ReportFixtures.allRuns.prefix(2)))
        var other = runs[1]
        var configuration = other.run.configuration
        configuration.model.routerOptions["trainingCapacityFactor"] = "2.0"
        other.run = try RunDirectoryFixture.replacingConfiguration(of: other.run, with: configuration)
        runs[1] = other
        let comparison = ComparisonReport(runs: runs)
        XCTAssertEqual(comparison.groups.count, 2)
        XCTAssertTrue(comparison.groups[1].label == "switch (trainingCapacityFactor=2.0)", comparison.groups[1].label)
        let md = comparison.document().markdown
        XCTAssertTrue(md.contains("needs at least two runs (seeds) in each group"), "single runs: no test, and the report says so")
        XCTAssertTrue(comparison.findings().joined().contains("one run only"))
    }
}

/// Builds a run directory in a temporary folder with another configuration.
enum RunDirectoryFixture {
    static func replacingConfiguration(of run: RunDirectory, with configuration: TrainingConfiguration) throws -> RunDirectory {
        let root = NSTemporaryDirectory() + "run-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: ReportFixtures.run((run.path as NSString).lastPathComponent), toPath: root)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(configuration).write(to: URL(fileURLWithPath: root + "/config.json"))
        return try RunDirectory(path: root)
    }
}
