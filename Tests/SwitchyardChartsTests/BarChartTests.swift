import XCTest
@testable import SwitchyardCharts

final class BarChartTests: XCTestCase {
    /// The share of tokens each of 8 experts receives under two routers, with bootstrap intervals.
    private func expertLoad() -> BarChart {
        let switchLoad = [0.21, 0.09, 0.14, 0.11, 0.08, 0.16, 0.12, 0.09]
        let balanced = [0.13, 0.12, 0.125, 0.12, 0.13, 0.125, 0.12, 0.13]
        var chart = BarChart(title: "Expert load, layer 3", categories: (0..<8).map { "expert \($0)" },
                             series: [ChartSeries(name: "switch", x: [], y: switchLoad),
                                      ChartSeries(name: "balanced", x: [], y: balanced)],
                             yLabel: "share of tokens")
        chart.xLabel = "expert"
        chart.referenceLine = 1.0 / 8
        chart.referenceLabel = "uniform"
        chart.errorBars = [switchLoad.map { ($0 - 0.01)...($0 + 0.015) }, balanced.map { ($0 - 0.005)...($0 + 0.005) }]
        return chart
    }

    func testRealisticLoadHasBarsErrorBarsReferenceAndLegend() throws {
        let root = try checkChart(expertLoad().svg, minInk: 0.05, colors: Array(seriesColors.prefix(2)), minPixels: 200)
        XCTAssertEqual(root.all("rect", class: "bar").count, 16)
        XCTAssertEqual(root.all("g", class: "error-bar").count, 16)
        let reference = try XCTUnwrap(root.all("line", class: "reference").first)
        XCTAssertEqual(reference.attributes["stroke-dasharray"], "5 4")
        XCTAssertEqual(reference.tooltip, "uniform: 0.125")
        XCTAssertEqual(root.all("g", class: "legend").first?.drawnTexts, ["switch", "balanced", "uniform"])
        XCTAssertEqual(root.all("rect", class: "bar").first?.tooltip, "expert 0, switch: 0.21")
    }

    func testThreeCategoriesTimesTwoSeriesGiveSixBarsInTwoColours() throws {
        let chart = BarChart(title: "Drop rate", categories: ["top-1", "top-2", "expert choice"],
                             series: [ChartSeries(name: "capacity 1.0", x: [], y: [0.12, 0.05, 0]),
                                      ChartSeries(name: "capacity 1.25", x: [], y: [0.04, 0.01, 0])],
                             yLabel: "dropped tokens")
        let root = try checkChart(chart.svg, colors: Array(seriesColors.prefix(2)))
        let bars = root.all("rect", class: "bar")
        XCTAssertEqual(bars.count, 6)
        XCTAssertEqual(Set(bars.map { $0.attributes["fill"] ?? "" }), Set(seriesColors.prefix(2)))
        XCTAssertEqual(root.all("g", class: "legend-entry").flatMap(\.drawnTexts), ["capacity 1.0", "capacity 1.25"])
        XCTAssertEqual(root.all("g", class: "category-labels").first?.drawnTexts, ["top-1", "top-2", "expert choice"])
    }

    func testNaNInfinityAndMissingValuesLeaveGaps() throws {
        var chart = BarChart(title: "Gaps", categories: ["a", "b", "c"],
                             series: [ChartSeries(name: "s", x: [], y: [1, .nan, -.infinity]),
                                      ChartSeries(name: "t", x: [], y: [2])], yLabel: "v")
        chart.referenceLine = .nan
        chart.errorBars = [[(0.5)...(Double.infinity), nil], []]
        let root = try checkChart(chart.svg)
        XCTAssertEqual(root.all("rect", class: "bar").count, 2)
        XCTAssertTrue(root.all("g", class: "error-bar").isEmpty)
        XCTAssertTrue(root.all("line", class: "reference").isEmpty)
    }

    func testSingleCategoryAndNegativeValues() throws {
        let chart = BarChart(title: "Change in accuracy", categories: ["fmnist-small"],
                             series: [ChartSeries(name: "top-2 vs switch", x: [], y: [-0.8])], yLabel: "points")
        let root = try checkChart(chart.svg, colors: [seriesColors[0]], minPixels: 500)
        XCTAssertEqual(root.all("rect", class: "bar").count, 1)
        XCTAssertEqual(root.all("line", class: "zero-line").count, 1, "zero sits at the top of a negative bar")
    }

    func testLongCategoryLabelsAreTurnedAndCutWithTheFullTextAsTooltip() throws {
        let names = (0..<16).map { "layer \($0 / 4) expert \($0 % 4) of the mixture" }
        let chart = BarChart(title: "Load", categories: names,
                             series: [ChartSeries(name: "", x: [], y: (0..<16).map { 1 + Double($0 % 3) })], yLabel: "tokens")
        let root = try checkChart(chart.svg)
        let labels = try XCTUnwrap(root.all("g", class: "category-labels").first).all("text")
        XCTAssertEqual(labels.count, 16)
        XCTAssertTrue(labels.allSatisfy { $0.attributes["transform"]?.hasPrefix("rotate(-45") ?? false })
        XCTAssertEqual(labels[5].text, "layer 1 expert 1…")
        XCTAssertEqual(labels[5].tooltip, names[5])
    }

    func testEmptyInputsSayNoData() throws {
        let cases = [
            BarChart(title: "no categories", categories: [], series: [ChartSeries(name: "s", x: [], y: [1])], yLabel: "y"),
            BarChart(title: "no series", categories: ["a"], series: [], yLabel: "y"),
            BarChart(title: "only NaN", categories: ["a"], series: [ChartSeries(name: "s", x: [], y: [.nan])], yLabel: "y"),
        ]
        for chart in cases {
            let root = try checkChart(chart.svg, minInk: 0.005)
            XCTAssertEqual(root.all("text", class: "no-data").count, 1, chart.title)
            XCTAssertTrue(root.all("rect", class: "bar").isEmpty)
        }
    }

    func testTextIsEscapedAndRoundTrips() throws {
        let label = "a<b & c \"q\" 'x' >"
        var chart = BarChart(title: label, categories: [label, "ok"],
                             series: [ChartSeries(name: label, x: [], y: [1, 2]), ChartSeries(name: "s2", x: [], y: [2, 1])],
                             yLabel: label)
        chart.xLabel = label
        let svg = chart.svg()
        XCTAssertFalse(svg.contains("a<b"))
        let root = try checkChart(chart.svg)
        XCTAssertEqual(root.children.first { $0.name == "title" }?.text, label)
        XCTAssertEqual(root.all("text", class: "chart-title").first?.text, label)
        XCTAssertEqual(root.all("text", class: "axis-title").map(\.text), [label, label])
        XCTAssertTrue(root.all("g", class: "legend").first?.drawnTexts.contains(label) ?? false)
        XCTAssertEqual(root.all("rect", class: "bar").first?.tooltip, "\(label), \(label): 1")
    }
}
