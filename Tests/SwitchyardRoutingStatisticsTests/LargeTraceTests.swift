import XCTest
import SwitchyardTraces
@testable import SwitchyardRoutingStatistics

/// What keeps the analysis of language-model-sized traces (top-8 of 64, token-id labels)
/// bounded: routing patterns numbered only up to a limit, the class permutation test on a
/// random subset of units beyond a work budget, and no MI/V bootstrap when every table is sparse.
final class LargeTraceTests: XCTestCase {
    /// `images` images of 12 tokens, one class each, 3 layers of top-3 of 12 experts with a
    /// class preference: patterns are many, and every count depends on them.
    func topThreeTrace(images: Int, seed: UInt64) -> RoutingTrace {
        var random = TestLCG(state: seed)
        let n = images * 12
        let labels = (0..<n).map { Int32($0 / 12 % 5) }
        let positions = (0..<n).map { Int32($0 % 12) }
        let layers = (0..<3).map { l in
            (0..<n).map { t -> [Int] in
                var chosen: [Int] = []
                while chosen.count < 3 {
                    let x = random.next(below: 3) == 0 ? (Int(labels[t]) * 2 + l + chosen.count) % 12 : random.next(below: 12)
                    if !chosen.contains(x) { chosen.append(x) }
                }
                return chosen
            }
        }
        return trace(experts: 12, labels: labels, positions: positions, classCount: 5, layers: layers)
    }

    /// Each token its own pattern (a limit of 0) or patterns numbered: the same analysis, bit
    /// for bit, for images (blocks) and for tokens (per unit).
    func testPatternLimitChangesNoNumber() throws {
        let t = topThreeTrace(images: 60, seed: 3)
        for unit in [ResamplingUnit.automatic, .tokens] {
            let options = AnalysisOptions(bootstrapResamples: 30, permutations: 19, seed: 4, resamplingUnit: unit)
            let numbered = try analyze(trace: t, options: options, allowGrouping: false)
            var limits = ResamplingLimits()
            limits.maxPatterns = 0
            let perToken = try analyze(trace: t, options: options, allowGrouping: false, limits: limits)
            XCTAssertGreaterThan(try reduceLayer(t.layers[0], of: t, shape: checkTrace(t, source: nil), source: nil)
                .patternCount, 13, "sets of 3 experts are numbered")
            XCTAssertTrue(try reduceLayer(t.layers[0], of: t, shape: checkTrace(t, source: nil), source: nil,
                                          maximumPatterns: 0).members.tokenIsPattern)
            XCTAssertEqual(try numbered.jsonData(), try perToken.jsonData(), "unit \(unit)")
            XCTAssertNotNil(numbered.layers[0].uncertainty?.cv)
        }
    }

    /// Token ids spread over a vocabulary of 200,000: the classes are the ids that occur, in
    /// ascending order, and every number is the one the whole range of ids gives.
    func testLabelsThatOccurAreTheClasses() throws {
        var random = TestLCG(state: 9)
        let n = 3_000
        let ids = (0..<n).map { _ in Int32(random.next(below: 300) * 661 + 17) }
        let experts = ids.map { id -> [Int] in
            let first = random.next(below: 3) == 0 ? Int(id) % 8 : random.next(below: 8)
            return [first, (first + 1 + random.next(below: 7)) % 8]
        }
        var t = trace(experts: 8, labels: ids, classCount: 200_000, layers: [experts])
        t.routingGroups = [Int](repeating: 100, count: 30)
        let options = AnalysisOptions(bootstrapResamples: 30, permutations: 19, seed: 2)
        let renumbered = try analyze(trace: t, options: options)
        var limits = ResamplingLimits()
        limits.occurringLabelCells = .max
        let whole = try analyze(trace: t, options: options, allowGrouping: true, limits: limits)
        let occurring = Array(Set(ids)).sorted().map(Int.init)
        XCTAssertEqual(renumbered.classIds, occurring)
        XCTAssertEqual(renumbered.classCount, occurring.count)
        XCTAssertEqual(renumbered.classNames, occurring.map(String.init))
        XCTAssertNil(whole.classIds)
        XCTAssertEqual(whole.classCount, 200_000)
        for (a, b) in zip(renumbered.layers + [renumbered.overall], whole.layers + [whole.overall]) {
            XCTAssertEqual(a.load, b.load)
            XCTAssertEqual(a.uncertainty, b.uncertainty)
            XCTAssertEqual(a.affinity.mutualInformationBits, b.affinity.mutualInformationBits)
            XCTAssertEqual(a.affinity.chi2P, b.affinity.chi2P)
            XCTAssertEqual(a.affinity.mutualInformationPermutationP, b.affinity.mutualInformationPermutationP)
            XCTAssertEqual(a.affinity.classes, b.affinity.classes)
            // Dominant classes: the renumbered class is the same id.
            XCTAssertEqual(a.affinity.dominantClasses.map { $0.dominantClass.map { occurring[$0] } },
                           b.affinity.dominantClasses.map(\.dominantClass))
            XCTAssertEqual(a.affinity.dominantClasses.map(\.share), b.affinity.dominantClasses.map(\.share))
            // Table rows: the occurring ids' rows.
            XCTAssertEqual(a.affinity.classExpertCounts, occurring.map { b.affinity.classExpertCounts![$0] })
            XCTAssertEqual(a.heterogeneity.classTokenCounts, occurring.map { b.heterogeneity.classTokenCounts![$0] })
        }
        XCTAssertTrue(renumbered.summary().contains("\(occurring.count) labels occur, of 0…\(occurring.last!)"))

        // Labels up to 2³¹ − 2 (a class count of 2³¹ − 1): two classes.
        let far = trace(experts: 2, labels: [151_935, 2_147_483_646, 151_935, 2_147_483_646],
                        classCount: Int(Int32.max), layers: [[[0], [1], [0], [1]]])
        let a = try analyze(trace: far, options: AnalysisOptions(bootstrapResamples: 10, permutations: 9, seed: 1))
        XCTAssertEqual(a.classIds, [151_935, 2_147_483_646])
        XCTAssertEqual(a.layers[0].affinity.classExpertCounts, [[2, 0], [0, 2]])
    }

    /// Beyond the work budget the class permutation test runs on a random subset of whole
    /// images: exact for that subset, whose MI it reports (recounted here from the subset's
    /// tokens), and the same on every run.
    func testClassPermutationOnASubsetBeyondTheBudget() throws {
        let t = topThreeTrace(images: 400, seed: 5)
        let options = AnalysisOptions(bootstrapResamples: 0, permutations: 49, seed: 6)
        // Images in blocks (at most 100 rows), so the test permutes image labels exactly.
        var limits = ResamplingLimits()
        limits.maxRows = 100
        let whole = try analyze(trace: t, options: options, allowGrouping: true, limits: limits)
        XCTAssertEqual(whole.resampling.method, "blocks")
        XCTAssertNil(whole.layers[0].affinity.permutationUnits)
        // 400 images × 12 tokens × 3 experts × 3 layers = 43,200 visits per permutation; a budget
        // of 49 × 10,000 keeps 92 images.
        limits.permutationBudget = 49 * 10_000
        let subset = try analyze(trace: t, options: options, allowGrouping: true, limits: limits)
        let again = try analyze(trace: t, options: options, allowGrouping: true, limits: limits)
        XCTAssertEqual(try subset.jsonData(), try again.jsonData())
        let units = try XCTUnwrap(subset.layers[0].affinity.permutationUnits)
        XCTAssertEqual(units, 10_000 / 108)
        XCTAssertEqual(subset.overall.affinity.permutationUnits, units)
        for a in subset.layers.map(\.affinity) + [subset.overall.affinity] {
            // The class affinity is strong: no permutation of 92 images reaches it.
            XCTAssertEqual(try XCTUnwrap(a.mutualInformationPermutationP), 1.0 / 50, accuracy: 1e-12)
            XCTAssertGreaterThan(try XCTUnwrap(a.permutationMutualInformationBits), 0)
        }
        // The point estimates stay the whole trace's.
        XCTAssertEqual(subset.layers[0].affinity.mutualInformationBits, whole.layers[0].affinity.mutualInformationBits)

        // The subset's MI, recounted from the original trace's tokens of the images kept (class ×
        // expert over the 5 classes; classes the subset lacks are empty rows).
        let shape = try checkTrace(t, source: nil)
        let reductions = try t.layers.map { try reduceLayer($0, of: t, shape: shape, source: nil) }
        let starts = (0...400).map { Int32($0 * 12) }
        let (test, kept) = try XCTUnwrap(UnitPermutation.subset(
            members: reductions.map(\.members), unitStarts: starts, labels: t.labels, permutations: 49,
            budget: limits.permutationBudget, seed: 6))
        XCTAssertEqual(kept.count, units)
        XCTAssertEqual(kept, kept.sorted())
        var table = [Double](repeating: 0, count: 5 * 12)
        for image in kept {
            for token in (image * 12)..<((image + 1) * 12) {
                for j in Int(t.layers[1].offsets[token])..<Int(t.layers[1].offsets[token + 1]) {
                    table[Int(t.labels![token]) * 12 + Int(t.layers[1].experts[j])] += 1
                }
            }
        }
        let recount = try XCTUnwrap(Statistics.contingency(flat: table, rows: 5, columns: 12).mutualInformationBits)
        XCTAssertEqual(subset.layers[1].affinity.permutationMutualInformationBits ?? -1, recount, accuracy: 1e-12)
        XCTAssertEqual(test.unitStarts.last, Int32(kept.count * 12))
    }
}
