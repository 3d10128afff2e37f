import Foundation
import XCTest
@testable import SwitchyardCharts

final class HistogramChartTests: XCTestCase {
    /// Router entropy of 10 000 tokens in 20 bins of width 0.1 nats.
    private func entropy() -> HistogramChart {
        let counts = (0..<20).map { i in (1800 * exp(-pow(Double(i) - 6.5, 2) / 12)).rounded() }
        let labels = (0..<20).map { String(format: "%.1f", Double($0) / 10) }
        return HistogramChart(title: "Router entropy", binLabels: labels, counts: counts, xLabel: "entropy (nats)",
                              yLabel: "tokens")
    }

    func testRealisticHistogramHasOneTouchingBarPerBin() throws {
        let root = try checkChart(entropy().svg, minInk: 0.1, colors: [seriesColors[0]], minPixels: 5000)
        let bars = root.all("rect", class: "bar")
        XCTAssertEqual(bars.count, 20)
        let x = bars.map { Double($0.attributes["x"]!)! }, width = Double(bars[0].attributes["width"]!)!
        XCTAssertEqual(x[1] - x[0], width, accuracy: 0.02, "bins touch")
        XCTAssertTrue(root.all("g", class: "legend").isEmpty)
        XCTAssertEqual(bars[6].tooltip, "0.6: 1763")
        let yTicks = try XCTUnwrap(root.all("g", class: "y-axis").first).all("text", class: "tick-label").map(\.text)
        XCTAssertEqual(yTicks, ["0", "500", "1000", "1500", "2000"])
    }

    func testAllZeroCountsDrawAnAxisFromZeroToOne() throws {
        let chart = HistogramChart(title: "No drops", binLabels: ["0", "1", "2"], counts: [0, 0, 0], xLabel: "drops",
                                   yLabel: "tokens")
        let root = try checkChart(chart.svg)
        XCTAssertEqual(root.all("rect", class: "bar").count, 3)
        XCTAssertTrue(root.all("rect", class: "bar").allSatisfy { $0.attributes["height"] == "0" })
        let yTicks = try XCTUnwrap(root.all("g", class: "y-axis").first).all("text", class: "tick-label").map(\.text)
        XCTAssertEqual(yTicks.first, "0")
        XCTAssertEqual(yTicks.last, "1")
    }

    func testOneBinNaNCountsAndMissingLabels() throws {
        let one = try checkChart(HistogramChart(title: "One bin", binLabels: ["all"], counts: [42], xLabel: "", yLabel: "").svg,
                                 colors: [seriesColors[0]], minPixels: 10000)
        XCTAssertEqual(one.all("rect", class: "bar").count, 1)
        let gaps = HistogramChart(title: "Gaps", binLabels: ["a"], counts: [3, .nan, 5, .infinity], xLabel: "", yLabel: "")
        let root = try checkChart(gaps.svg)
        XCTAssertEqual(root.all("rect", class: "bar").map { $0.tooltip ?? "" }, ["a: 3", "#3: 5"])
    }

    func testManyBinsThinTheLabels() throws {
        let counts = (0..<100).map { Double(($0 * 37) % 23) }
        let chart = HistogramChart(title: "Tokens per expert", binLabels: (0..<100).map { "\($0)" }, counts: counts,
                                   xLabel: "expert", yLabel: "tokens")
        let root = try checkChart(chart.svg)
        let labels = try XCTUnwrap(root.all("g", class: "category-labels").first).all("text")
        XCTAssertEqual(labels.first?.text, "0")
        XCTAssertTrue(labels.count < 50 && labels.count >= 10, "\(labels.count) labels")
        XCTAssertTrue(labels.allSatisfy { $0.attributes["transform"] == nil }, "short labels stay level")
    }

    func testEmptyCountsSayNoData() throws {
        let root = try checkChart(HistogramChart(title: "Empty", binLabels: ["a"], counts: [], xLabel: "x", yLabel: "y").svg,
                                  minInk: 0.005)
        XCTAssertEqual(root.all("text", class: "no-data").count, 1)
    }
}
