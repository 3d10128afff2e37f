import Foundation
import XCTest
@testable import SwitchyardCharts

final class HeatmapTests: XCTestCase {
    /// P(expert | class) for the 10 Fashion-MNIST classes and 16 experts: each class prefers two experts.
    private func classExpert() -> Heatmap {
        let classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        let values: [[Double?]] = (0..<10).map { c in
            let raw = (0..<16).map { e in e == c || e == (c + 6) % 16 ? 6.0 : 1 + Double((c * 7 + e * 3) % 5) / 4 }
            let total = raw.reduce(0, +)
            return raw.map { $0 / total }
        }
        return Heatmap(title: "P(expert | class), layer 3", rowLabels: classes, columnLabels: (0..<16).map { "e\($0)" },
                       values: values, xLabel: "expert", yLabel: "class")
    }

    func testTenBySixteenHasEveryCellValuesInContrastAndAColourBar() throws {
        let chart = classExpert()
        let root = try checkChart(chart.svg, minInk: 0.3, colors: ["#fde725", "#440154"], minPixels: 100)
        let cells = root.all("rect", class: "cell")
        XCTAssertEqual(cells.count, 10 * 16)
        XCTAssertEqual(root.all("text", class: "cell-value").count, 160)
        let textColours = Set(root.all("text", class: "cell-value").compactMap { $0.attributes["fill"] })
        XCTAssertEqual(textColours, ["#000000", "#ffffff"], "text switches colour with the cell's")
        XCTAssertEqual(root.all("g", class: "row-labels").first?.drawnTexts.first, "T-shirt/top")
        XCTAssertEqual(root.all("g", class: "category-labels").first?.drawnTexts.count, 16)
        let values = chart.values.joined().compactMap { $0 }
        XCTAssertEqual(root.all("text", class: "colorbar-max").first?.text, String(format: "%.2f", values.max()!))
        XCTAssertEqual(root.all("text", class: "colorbar-min").first?.text, String(format: "%.2f", values.min()!))
        XCTAssertEqual(cells[0].tooltip, "T-shirt/top, e0: \(String(format: "%.2f", values[0]))")
        let width = Double(root.attributes["width"]!)!, height = Double(root.attributes["height"]!)!
        XCTAssertTrue((640...1000).contains(width) && (400...700).contains(height), "\(width) × \(height)")
    }

    func testEmptyNilAndNaNCellsAreBlank() throws {
        var chart = Heatmap(title: "Sparse", rowLabels: ["a", "b"], columnLabels: ["x", "y", "z"],
                            values: [[1, nil, .nan], [2]], xLabel: "col", yLabel: "row")
        chart.valueFormat = "%.1f"
        let root = try checkChart(chart.svg)
        XCTAssertEqual(root.all("rect", class: "cell").count, 6)
        XCTAssertEqual(root.all("rect", class: "empty").count, 4)
        XCTAssertEqual(root.all("text", class: "cell-value").map(\.text), ["1.0", "2.0"])
        XCTAssertEqual(root.all("rect", class: "empty").first?.tooltip, "a, y: no value")
    }

    func testOneCellAndEqualValues() throws {
        let root = try checkChart(Heatmap(title: "One", rowLabels: ["r"], columnLabels: ["c"], values: [[0.5]],
                                          xLabel: "", yLabel: "").svg)
        XCTAssertEqual(root.all("rect", class: "cell").count, 1)
        XCTAssertEqual(root.all("text", class: "colorbar-min").map(\.text), ["0.50"])
        XCTAssertTrue(root.all("text", class: "colorbar-max").isEmpty)
    }

    func testLargeGridShrinksCellsAndHidesValues() throws {
        let values: [[Double?]] = (0..<64).map { r in (0..<96).map { c in Double((r * c) % 17) } }
        let chart = Heatmap(title: "Token × expert", rowLabels: (0..<64).map { "token \($0)" },
                            columnLabels: (0..<96).map { "expert \($0)" }, values: values, xLabel: "expert", yLabel: "token")
        let root = try checkChart(chart.svg, minInk: 0.3)
        XCTAssertEqual(root.all("rect", class: "cell").count, 64 * 96)
        XCTAssertTrue(root.all("text", class: "cell-value").isEmpty)
        XCTAssertLessThanOrEqual(Double(root.attributes["width"]!)!, 1000)
        XCTAssertLessThanOrEqual(Double(root.attributes["height"]!)!, 800)
        XCTAssertLessThan(root.all("g", class: "row-labels").first!.drawnTexts.count, 64, "thinned row labels")
    }

    func testEmptyInputsSayNoData() throws {
        let cases = [
            Heatmap(title: "none", rowLabels: [], columnLabels: [], values: [], xLabel: "x", yLabel: "y"),
            Heatmap(title: "all nil", rowLabels: ["a"], columnLabels: ["b"], values: [[nil]], xLabel: "x", yLabel: "y"),
            Heatmap(title: "all inf", rowLabels: [], columnLabels: [], values: [[.infinity, -.infinity]], xLabel: "x", yLabel: "y"),
        ]
        for chart in cases {
            let root = try checkChart(chart.svg, minInk: 0.005)
            XCTAssertEqual(root.all("text", class: "no-data").count, 1, chart.title)
        }
    }

    func testABadValueFormatFallsBackInsteadOfCrashing() throws {
        for format in ["%s", "%d", "%.2f %.2f", "%@", "%n", "100%"] {
            var chart = Heatmap(title: "f", rowLabels: ["r"], columnLabels: ["c"], values: [[0.25]], xLabel: "", yLabel: "")
            chart.valueFormat = format
            let root = try parseSVG(chart.svg())
            XCTAssertEqual(root.all("text", class: "cell-value").map(\.text), ["0.25"], format)
        }
        var chart = Heatmap(title: "f", rowLabels: ["r"], columnLabels: ["c"], values: [[0.25]], xLabel: "", yLabel: "")
        chart.valueFormat = "%.0f%%"
        chart.values = [[25]]
        XCTAssertEqual(try parseSVG(chart.svg()).all("text", class: "cell-value").map(\.text), ["25%"])
    }

    func testLabelsAreEscaped() throws {
        let label = "a<b & c"
        let chart = Heatmap(title: label, rowLabels: [label], columnLabels: [label], values: [[1, 2]], xLabel: label,
                            yLabel: label)
        let root = try checkChart(chart.svg)
        XCTAssertEqual(root.all("g", class: "row-labels").first?.drawnTexts, [label])
        XCTAssertEqual(root.all("rect", class: "cell").first?.tooltip, "\(label), \(label): 1.00")
        XCTAssertEqual(root.all("rect", class: "cell").last?.tooltip, "\(label), #2: 2.00")
    }
}
