import XCTest
@testable import SwitchyardRoutingStatistics

/// The coverage harness simulates what the stratified bootstrap's intervals claim to cover:
/// routing given the class composition, so its bootstrapped scenarios give every trace the
/// population's composition exactly.
final class CoverageCompositionTests: XCTestCase {
    func testFixedCompositionHasExactClassCountsInRandomOrder() {
        // Zipf(1.2) over 7 classes, 1,000 tokens: counts by largest remainders add up to 1,000.
        let s = CoverageScenario(name: "t", experts: 4, layers: 1, classes: 7, zipf: 1.2, tokens: 1_000,
                                 loadSkew: 0.3, affinity: 0.5, fixedClassCounts: true)
        let population = CoveragePopulation(s, seed: 1)
        let expected = population.classProbability.map { $0 * 1_000 }
        let a = population.trace(seed: 1), b = population.trace(seed: 2)
        var counts = [Int](repeating: 0, count: 7)
        for c in a.labels! { counts[Int(c)] += 1 }
        XCTAssertEqual(counts.reduce(0, +), 1_000)
        for c in 0..<7 { XCTAssertLessThan(abs(Double(counts[c]) - expected[c]), 1, "class \(c)") }
        var countsB = [Int](repeating: 0, count: 7)
        for c in b.labels! { countsB[Int(c)] += 1 }
        XCTAssertEqual(counts, countsB, "every trace has the same composition")
        XCTAssertNotEqual(a.labels, b.labels, "in a different order")
        // Images: one class per image, the composition over images.
        let images = CoverageScenario(name: "i", experts: 4, layers: 1, tokens: 1_600, tokensPerImage: 16,
                                      loadSkew: 0.3, affinity: 0.5, fixedClassCounts: true)
        let labels = CoveragePopulation(images, seed: 2).trace(seed: 3).labels!
        let perImage = stride(from: 0, to: 1_600, by: 16).map { labels[$0] }
        XCTAssertEqual((0..<10).map { c in perImage.filter { $0 == c }.count }, [Int](repeating: 10, count: 10))
    }

    func testBootstrappedStandardScenariosFixTheComposition() {
        for s in CoverageScenario.standard { XCTAssertEqual(s.fixedClassCounts, s.bootstrap, s.name) }
    }

    /// docs/statistics.md: no harness scenario with intervals has its MI and V intervals withheld
    /// as sparse. Measured on each population's expected class × expert counts, per layer and
    /// for all layers, of the harness's populations (seed 1): the smallest is 24.4.
    func testNoBootstrappedScenarioHasASparseTable() {
        var smallest = Double.infinity
        for s in CoverageScenario.standard where s.bootstrap {
            let table = CoveragePopulation(s, seed: 1).assignmentTable().map { $0 * Double(s.tokens) }
            let slots = s.layers * s.experts
            let scopes = (0..<s.layers).map { l in
                (0..<(s.classes * s.experts)).map { i in table[(i / s.experts) * slots + l * s.experts + i % s.experts] }
            } + [table]
            for t in scopes {
                let columns = t.count / s.classes
                XCTAssertEqual(SparseTable.shareBelowFive(t, rows: s.classes, columns: columns), 0, s.name)
                var rows = [Double](repeating: 0, count: s.classes), cols = [Double](repeating: 0, count: columns)
                for (i, x) in t.enumerated() { rows[i / columns] += x; cols[i % columns] += x }
                smallest = min(smallest, rows.min()! * cols.min()! / rows.reduce(0, +))
            }
        }
        XCTAssertEqual(smallest, 24.37, accuracy: 0.01)
    }
}
