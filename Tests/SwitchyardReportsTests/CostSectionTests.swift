import Foundation
import SwitchyardCostModel
import SwitchyardReports
import SwitchyardTraces
import XCTest

/// The "Cost under expert parallelism" sections of `report` and `compare`.
final class CostSectionTests: XCTestCase {
    func testRunReportCostSectionHoldsTheSimulatedNumbers() throws {
        let report = try ReportFixtures.report("switch-s0")
        let cost = try XCTUnwrap(report.cost)
        // The fixture has 4 experts: D = 2 and 4, each with both placements.
        XCTAssertEqual(cost.rows.map(\.devices), [2, 2, 4, 4])
        XCTAssertEqual(cost.rows.map(\.placement), [.contiguous, .balanced, .contiguous, .balanced])
        XCTAssertEqual(cost.model.hidden, report.run.configuration.model.width)
        XCTAssertEqual(cost.model.ffnHidden, report.run.configuration.model.expertHidden)
        // The same numbers as simulating the run's newest trace directly.
        let trace = try TraceLoader.load(ReportFixtures.run("switch-s0"))
        let direct = try ExpertParallelSimulation.run(trace, groups: DispatchGroups(trace),
                                                      placement: .contiguous(experts: 4, devices: 2, layers: trace.layers.count),
                                                      options: SimulationOptions(devices: 2, model: cost.model))
        XCTAssertEqual(cost.rows[0].dropless, direct.overall)
        let dropped = try ExpertParallelSimulation.run(trace, groups: DispatchGroups(trace),
                                                       placement: .contiguous(experts: 4, devices: 2, layers: trace.layers.count),
                                                       options: SimulationOptions(devices: 2, capacityFactor: 1.0, model: cost.model))
        XCTAssertEqual(cost.rows[0].droppedFraction[0], dropped.overall.droppedFraction)
        // Balanced placement is never worse on the straggler factor here.
        for d in [2, 4] {
            let rows = cost.rows.filter { $0.devices == d }
            XCTAssertLessThanOrEqual(rows[1].dropless.stragglerFactor!.mean, rows[0].dropless.stragglerFactor!.mean + 1e-12)
        }
        let md = report.document().markdown
        XCTAssertTrue(md.contains("## Cost under expert parallelism\n"))
        XCTAssertTrue(md.contains("![Straggler factor versus devices](charts/cost-straggler.svg)"))
        let s = direct.overall.stragglerFactor!
        XCTAssertTrue(md.contains(String(format: "| 2 | contiguous | %.3f | %.3f | %.3f |", s.mean, s.p90, s.max)), md)
    }

    func testComparisonTranslatesBalanceIntoStepTime() throws {
        let runs = try ReportFixtures.reports(ReportFixtures.allRuns)
        let md = ComparisonReport(runs: runs).document().markdown
        XCTAssertTrue(md.contains("## Cost under expert parallelism\n"))
        XCTAssertTrue(md.contains("![Estimated MoE step time per group and device count](charts/compare-cost-step.svg)"))
        // The switch group's contiguous straggler factor at D = 4 is the mean of its two runs'.
        let values = runs[0...1].map { $0.cost!.rows.first { $0.devices == 4 && $0.placement == .contiguous }!.dropless.stragglerFactor!.mean }
        XCTAssertTrue(md.contains(String(format: "| switch | 4 | %.3f |", values.reduce(0, +) / 2)), md)
    }
}
