import Foundation
import SwitchyardReports
import SwitchyardRoutingStatistics
import SwitchyardTraces
import SwitchyardTraining
import XCTest

/// A soft router's run (trait `soft`): `analyze` and `report` state the statistics rule (one
/// record per token, its expert of largest combine mass) and print nothing that reads the record
/// as the experts' compute.
final class SoftRoutingReportTests: XCTestCase {
    func testReportAndAnalysisOfASoftMoERunStateTheRule() throws {
        let root = NSTemporaryDirectory() + "switchyard-soft-report-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let c = try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [
            ("model.router", "soft-moe"), ("data.trainLimit", "256"), ("data.testLimit", "64"),
            ("batchSize", "32"), ("epochs", "1"), ("threads", "1"), ("logEvery", "2"),
        ])
        try Trainer(configuration: c, runDirectory: root + "/run", quiet: true).run()
        let report = try RunReport.load(run: root + "/run", options: AnalysisOptions(bootstrapResamples: 20, permutations: 20, seed: 1))
        let analysis = try XCTUnwrap(report.analysis)
        XCTAssertEqual(analysis.metadata["router.soft"], "true")
        XCTAssertTrue(analysis.summary().contains("Soft router: every token reaches every expert"))
        for layer in analysis.layers {
            XCTAssertEqual(layer.heterogeneity.meanExpertsPerToken, 1, "one record per token")
            XCTAssertEqual(layer.load.counts.reduce(0, +), 64 * 17)
        }
        let findings = report.findings()
        XCTAssertTrue(findings.contains { $0.hasPrefix("Soft routing: every expert computes the same number of slots per image") }, "\(findings)")
        XCTAssertTrue(findings.contains { $0.hasPrefix("Soft routing: every token reaches all 4 experts") }, "\(findings)")
        XCTAssertFalse(findings.contains { $0.contains("busiest expert takes") || $0.contains("processed by the same number of experts") })
        let md = report.document().markdown
        XCTAssertTrue(md.contains("| router traits | soft: every token reaches every expert through weighted slots"))
        XCTAssertTrue(md.contains("Soft router: every expert computes the same p slots per image"))
        XCTAssertTrue(md.contains("Not simulated: the simulator moves tokens"))
        XCTAssertFalse(md.contains("charts/compute-per-token.svg"), "no experts-per-token histogram")
        XCTAssertFalse(md.contains("| D | placement |"), "no cost table")

        // Beside a sparse run: the soft run is not ranked for balance, and not cost-simulated.
        var sparse = c
        sparse.model.router = "switch"
        try Trainer(configuration: sparse, runDirectory: root + "/switch", quiet: true).run()
        let other = try RunReport.load(run: root + "/switch", options: AnalysisOptions(bootstrapResamples: 20, permutations: 20, seed: 1))
        let comparison = ComparisonReport(runs: [report, other])
        XCTAssertTrue(comparison.findings().contains { $0.hasPrefix("soft-moe routes softly") }, "\(comparison.findings())")
        XCTAssertFalse(comparison.findings().contains { $0.hasPrefix("Most balanced load") })
        XCTAssertTrue(comparison.document().markdown.contains("soft-moe is not simulated (n/a)"))
    }
}
