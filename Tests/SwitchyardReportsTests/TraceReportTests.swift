import Foundation
import XCTest
import SwitchyardReports
import SwitchyardRoutingStatistics
import SwitchyardTraces

/// `switchyard report TRACE`: a trace imported from elsewhere gets the routing sections of a run
/// report, worded for what it holds, and none of the training sections.
final class TraceReportTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/llm/qwen2_moe").standardized.path

    func report() throws -> TraceReport {
        var options = AnalysisOptions()
        options.bootstrapResamples = 50
        options.permutations = 50
        let trace = try TraceLoader.load(Self.fixture).labelledForStatistics().trace
        return TraceReport(source: "Tests/Fixtures/llm/qwen2_moe", analysis: try analyze(trace: trace, options: options))
    }

    func testALanguageModelTraceIsReportedAsSequencesOfTokenIDs() throws {
        let r = try report()
        let text = r.document().markdown
        XCTAssertTrue(text.hasPrefix("# Trace report: qwen2_moe\n"), String(text.prefix(80)))
        for expected in ["| kind | sequences (token ids as labels) |", "| layers | 2 (blocks 1, 3) |",
                         "| experts | 8, plus 1 (gated) shared |", "| labels | token ids 0…511 |",
                         "| routing groups | 64 (sequences) |", "## Load balance", "| layer 1 | 10,188 |",
                         "| shared experts' share of the combine weight | block 1: 39.9%, block 3: 29.8% |",
                         "Routing of the trace's 2,547 tokens of sequences.", "## Expert-parallel cost"] {
            XCTAssertTrue(text.contains(expected), "missing: \(expected)")
        }
        for absent in ["Test accuracy", "## Training", "## Configuration", "patch position", "this run has"] {
            XCTAssertFalse(text.contains(absent), "a trace report should not say: \(absent)")
        }
        let findings = r.findings()
        XCTAssertTrue(findings.contains { $0.contains("the token id at adjusted p") }, "\(findings)")
        XCTAssertTrue(findings.contains { $0.contains("position in the sequence") }, "\(findings)")
        // The same trace and options give the same bytes, charts included.
        XCTAssertEqual(try report().document(), r.document())
        // The language-model statistics, with their baselines.
        for expected in ["## Neighbours, co-activation, vocabulary and domains", "| layer | pairs | agreement | chance |",
                         "Expert co-activation", "Vocabulary specialisation"] {
            XCTAssertTrue(text.contains(expected), "missing: \(expected)")
        }
        XCTAssertFalse(text.contains("Domain specialisation"), "the fixture has no domains")
        XCTAssertTrue(text.contains("## Stability\n\nStability across checkpoints needs traces of the same tokens"), text)
    }

    /// Domains given with the trace get their table: each domain's most lifted expert.
    func testDomainsGetTheirTable() throws {
        var trace = try TraceLoader.load(Self.fixture).labelledForStatistics().trace
        let sizes = try XCTUnwrap(trace.routingGroups)
        trace.domains = sizes.enumerated().flatMap { g, size in [Int32](repeating: Int32(g % 2), count: size) }
        trace.domainNames = ["code", "prose"]
        var options = AnalysisOptions()
        options.bootstrapResamples = 0
        options.permutations = 19
        let text = TraceReport(source: "qwen2_moe", analysis: try analyze(trace: trace, options: options)).document().markdown
        XCTAssertTrue(text.contains("Domain specialisation (Mixtral §5, OLMoE §5)"))
        XCTAssertTrue(text.contains("domains permuted over sequences"))
        XCTAssertTrue(text.contains("| 1 | code | "), text)
        XCTAssertTrue(text.contains("| 3 | prose | "))
    }
}
