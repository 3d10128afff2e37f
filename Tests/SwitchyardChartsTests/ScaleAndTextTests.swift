import XCTest
@testable import SwitchyardCharts

/// The helpers every chart shares: nice ticks, compact labels, escaping, number formatting.
final class ScaleAndTextTests: XCTestCase {
    private func labels(_ values: [Double], includeZero: Bool = false) -> [String] {
        AxisScale.linear(covering: values, includeZero: includeZero).ticks.map(\.label)
    }

    func testNiceStepsAreOneTwoOrFiveTimesAPowerOfTen() {
        XCTAssertEqual(AxisScale.niceStep(0.13), 0.1)
        XCTAssertEqual(AxisScale.niceStep(0.27), 0.2)
        XCTAssertEqual(AxisScale.niceStep(4.1), 5)
        XCTAssertEqual(AxisScale.niceStep(8), 10)
        XCTAssertEqual(AxisScale.niceStep(2950), 2000)
    }

    func testLinearTicksCoverTheDataWithCompactLabels() {
        XCTAssertEqual(labels([0.03, 0.37]), ["0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3", "0.35", "0.4"])
        XCTAssertEqual(labels([0.3, 0.9]), ["0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"])
        XCTAssertEqual(labels([12, 87], includeZero: true), ["0", "20", "40", "60", "80", "100"])
        XCTAssertEqual(labels([0, 2_400_000]), ["0", "0.5M", "1M", "1.5M", "2M", "2.5M"])
        XCTAssertEqual(labels([-3, 3]), ["-3", "-2", "-1", "0", "1", "2", "3"])
        XCTAssertEqual(labels([0, 1500]), ["0", "500", "1000", "1500"])
        XCTAssertEqual(labels([0, 12_000]), ["0", "2k", "4k", "6k", "8k", "10k", "12k"])
        XCTAssertEqual(labels([0, 4e-5]), ["0", "1e-5", "2e-5", "3e-5", "4e-5"])
        XCTAssertEqual(labels([]), ["0", "0.2", "0.4", "0.6", "0.8", "1"])
        XCTAssertEqual(labels([7, 7]), ["6", "6.5", "7", "7.5", "8"])
        XCTAssertEqual(labels([.nan, .infinity, 2, 4]), ["2", "2.5", "3", "3.5", "4"])
    }

    func testLogTicksAreDecades() {
        let scale = AxisScale.logarithmic(covering: [3e-7, 2e4])
        XCTAssertEqual(scale.ticks.map(\.label), ["1e-7", "1e-5", "0.001", "0.1", "10", "1000", "1e5"])
        XCTAssertEqual(scale.fraction(of: 0), nil)
        XCTAssertEqual(AxisScale.logarithmic(covering: [10]).ticks.map(\.label), ["1", "2", "5", "10", "20", "50", "100"])
        XCTAssertEqual(AxisScale.logarithmic(covering: [2e-5, 0.5]).ticks.map(\.label),
                       ["1e-5", "1e-4", "0.001", "0.01", "0.1", "1"])
    }

    func testEscapingCoversMarkupQuotesAndForbiddenCharacters() {
        XCTAssertEqual(xmlEscaped("a<b & c>\"d\"'e'"), "a&lt;b &amp; c&gt;&quot;d&quot;&apos;e&apos;")
        XCTAssertEqual(xmlEscaped("tab\there\u{0}\u{1B}end"), "tab here\u{FFFD}\u{FFFD}end")
        XCTAssertEqual(xmlEscaped("ünï 中文 😀"), "ünï 中文 😀")
    }

    func testNumbersHaveFixedFormatting() {
        XCTAssertEqual(svgNumber(640), "640")
        XCTAssertEqual(svgNumber(12.5), "12.5")
        XCTAssertEqual(svgNumber(-0.001), "0")
        XCTAssertEqual(svgNumber(1.0 / 3), "0.33")
        XCTAssertEqual(svgNumber(.nan), "0")
        XCTAssertEqual(fixed(-0.0, decimals: 1), "0.0")
    }

    func testTruncationKeepsShortTextAndMarksCuts() {
        XCTAssertEqual(TextMetrics.truncated("short", maxCharacters: 10).text, "short")
        XCTAssertEqual(TextMetrics.truncated("a long label", maxCharacters: 8).text, "a long…")
        XCTAssertTrue(TextMetrics.truncated("a long label", maxCharacters: 8).cut)
    }

    func testViridisEndsAndContrast() {
        XCTAssertEqual(Viridis.color(0).hex, "#440154")
        XCTAssertEqual(Viridis.color(1).hex, "#fde725")
        XCTAssertEqual(Viridis.color(.nan).hex, "#440154")
        XCTAssertEqual(Viridis.color(0).contrastingText, "#ffffff")
        XCTAssertEqual(Viridis.color(1).contrastingText, "#000000")
    }
}
