import Foundation
import XCTest
@testable import SwitchyardCharts

final class LineChartTests: XCTestCase {
    /// Validation loss of three routers over 60 evaluation steps, smooth decays with a ripple.
    private func lossCurves() -> LineChart {
        let steps = (0..<60).map { Double($0 * 250) }
        let series = [("switch", 2.1, 0.42), ("top-2", 2.2, 0.36), ("expert-choice", 2.3, 0.39)].map { name, start, floor in
            ChartSeries(name: name, x: steps, y: steps.map { floor + (start - floor) * exp(-$0 / 3000) + 0.02 * sin($0 / 700) })
        }
        return LineChart(title: "Validation loss", xLabel: "step", yLabel: "cross-entropy", series: series)
    }

    func testRealisticCurvesDrawThreeColouredLinesAndALegend() throws {
        let chart = lossCurves()
        let root = try checkChart(chart.svg, colors: Array(seriesColors.prefix(3)), minPixels: 100)
        XCTAssertEqual(root.all("polyline", class: "line").count, 3)
        XCTAssertEqual(root.attributes["width"], "640")
        XCTAssertEqual(root.attributes["height"], "360")
        let legend = try XCTUnwrap(root.all("g", class: "legend").first)
        XCTAssertEqual(legend.drawnTexts, ["switch", "top-2", "expert-choice"])
        XCTAssertEqual(root.all("text", class: "chart-title").first?.text, "Validation loss")
        XCTAssertEqual(root.all("text", class: "axis-title").map(\.text).sorted(), ["cross-entropy", "step"])
        // Steps 0 to 14750: a tick every 2000 steps, labelled compactly.
        let xTicks = try XCTUnwrap(root.all("g", class: "x-axis").first).all("text", class: "tick-label").map(\.text)
        XCTAssertEqual(xTicks, ["0", "2k", "4k", "6k", "8k", "10k", "12k", "14k", "16k"])
    }

    func testLogarithmicAxisTicksAtPowersOfTenAndSkipsNonPositiveValues() throws {
        var chart = LineChart(title: "Gradient norm", xLabel: "step", yLabel: "norm", series: [
            ChartSeries(name: "router", x: [0, 1, 2, 3, 4, 5], y: [120, 15, 0, 0.8, -1, 0.02]),
        ])
        chart.logY = true
        let root = try checkChart(chart.svg, colors: [seriesColors[0]])
        let yTicks = try XCTUnwrap(root.all("g", class: "y-axis").first).all("text", class: "tick-label").map(\.text)
        XCTAssertEqual(yTicks, ["0.01", "0.1", "1", "10", "100", "1000"], "5 decades: no ticks between decades")
        // 0 and -1 break the line: runs [120, 15], [0.8], [0.02].
        XCTAssertEqual(root.all("polyline").count, 1)
        XCTAssertEqual(root.all("circle", class: "marker").count, 4)
        XCTAssertTrue(root.all("g", class: "legend").isEmpty, "one series needs no legend")
    }

    func testNaNAndInfinityBreakTheLineInsteadOfCorruptingIt() throws {
        let chart = LineChart(title: "Loss with a diverged step", xLabel: "step", yLabel: "loss", series: [
            ChartSeries(name: "a", x: [0, 1, 2, 3, 4, 5, .nan], y: [1, 0.9, .nan, 0.7, .infinity, 0.5, 0.4]),
            ChartSeries(name: "b", x: [0, 1, 2], y: [1.2, 1.1, 1.0]),
        ])
        let root = try checkChart(chart.svg, colors: Array(seriesColors.prefix(2)))
        XCTAssertEqual(root.all("polyline").count, 2, "[1, 0.9] of a, and b; 0.7 and 0.5 are lone points")
        XCTAssertEqual(root.all("circle", class: "marker").count, 4 + 3, "series of at most 40 points show every point")
    }

    func testEmptyInputsSayNoData() throws {
        for series in [[], [ChartSeries(name: "empty", x: [], y: [])], [ChartSeries(name: "nan", x: [.nan], y: [1])]] {
            let root = try checkChart(LineChart(title: "Nothing yet", xLabel: "x", yLabel: "y", series: series).svg,
                                      minInk: 0.005)
            XCTAssertEqual(root.all("text", class: "no-data").first?.text, "no data")
        }
    }

    func testOnePointIsADotOnAnAxisAroundIt() throws {
        let chart = LineChart(title: "Single evaluation", xLabel: "epoch", yLabel: "accuracy",
                              series: [ChartSeries(name: "switch", x: [3], y: [0.87])])
        let root = try checkChart(chart.svg, colors: [seriesColors[0]], minPixels: 10)
        XCTAssertEqual(root.all("circle", class: "marker").count, 1)
        XCTAssertTrue(root.all("polyline").isEmpty)
        let yTicks = try XCTUnwrap(root.all("g", class: "y-axis").first).all("text", class: "tick-label").map(\.text)
        XCTAssertEqual(yTicks.first, "0.75")
        XCTAssertEqual(yTicks.last, "1")
    }

    func testMismatchedLengthsUseThePairedPoints() throws {
        let chart = LineChart(title: "t", xLabel: "x", yLabel: "y",
                              series: [ChartSeries(name: "s", x: [0, 1, 2, 3], y: [5, 6])])
        let root = try checkChart(chart.svg)
        XCTAssertEqual(root.all("circle", class: "marker").count, 2)
    }

    func testManySeriesRepeatColoursWithDashesAndTheLegendOverflows() throws {
        let series = (0..<20).map { i in ChartSeries(name: "expert \(i)", x: [0, 1, 2], y: [Double(i), Double(i) + 1, Double(i)]) }
        let root = try checkChart(LineChart(title: "Per-expert load", xLabel: "x", yLabel: "y", series: series).svg)
        let lines = root.all("polyline")
        XCTAssertNil(lines[0].attributes["stroke-dasharray"])
        XCTAssertEqual(lines[8].attributes["stroke-dasharray"], "6 3")
        XCTAssertEqual(lines[8].attributes["stroke"], lines[0].attributes["stroke"])
        let more = try XCTUnwrap(root.all("text", class: "legend-more").first)
        let shown = root.all("g", class: "legend-entry").count
        XCTAssertEqual(more.text, "+\(20 - shown) more")
        XCTAssertTrue(more.tooltip?.hasSuffix("expert 19") ?? false)
    }
}
