import XCTest
@testable import SwitchyardRoutingStatistics
import SwitchyardTraces

/// Vocabulary specialisation (routers-next B4): values recomputed by hand and independently on
/// a fixture, and the within-sequence permutation test calibrated under its null.
final class VocabularySpecialisationTests: XCTestCase {
    /// One layer of top-1 routing: token t has label `labels[t]` and expert `experts[t]`, in
    /// routing groups of `groupSize` tokens.
    func trace(labels: [Int32], experts: [Int32], expertCount: Int, groupSize: Int) -> RoutingTrace {
        let n = labels.count
        let layer = LayerRouting(layer: 1, offsets: (0...n).map(Int32.init), experts: experts,
                                 weights: [Float](repeating: 1, count: n))
        return RoutingTrace(expertCount: expertCount, tokenCount: n, labels: labels,
                            classCount: Int(labels.max()! + 1), layers: [layer],
                            routingGroups: [Int](repeating: groupSize, count: n / groupSize))
    }

    func testTheShareOfEachIdsMostFrequentExpertAveragedOverFrequentIds() throws {
        // Id 0: 10 tokens, all on expert 1 (share 1). Id 1: 10 tokens, 7 on expert 2 and 3 on
        // expert 0 (0.7). Id 2: 5 tokens, fewer than 10: left out. Mean (1 + 0.7)/2 = 0.85.
        let labels: [Int32] = [Int32](repeating: 0, count: 10) + [Int32](repeating: 1, count: 10) + [Int32](repeating: 2, count: 5)
        let experts: [Int32] = [Int32](repeating: 1, count: 10) + [2, 2, 2, 2, 2, 2, 2, 0, 0, 0] + [3, 3, 3, 3, 3]
        var options = AnalysisOptions()
        options.permutations = 99
        options.bootstrapResamples = 0
        let a = try analyze(trace: trace(labels: labels, experts: experts, expertCount: 4, groupSize: 5), options: options)
        let v = try XCTUnwrap(a.vocabularySpecialisation?.first)
        XCTAssertEqual(v.layer, 1)
        XCTAssertEqual(v.ids, 2)
        XCTAssertEqual(v.tokens, 20)
        XCTAssertEqual(try XCTUnwrap(v.specialisation), 0.85, accuracy: 1e-12)
        XCTAssertEqual(v.units, "routing groups")
        XCTAssertEqual(v.permutations, 99)
        // Each group of 5 holds one id, so shuffling within groups changes nothing: the null is
        // the observed value and every shuffle reaches it (p = 1).
        XCTAssertEqual(try XCTUnwrap(v.permutationMean), 0.85, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(v.permutationP), 1, accuracy: 1e-12)
    }

    func testTheFixtureAgreesWithAnIndependentCount() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/llm/mixtral").standardized.path
        let trace = try TraceLoader.load(folder)
        var options = AnalysisOptions()
        options.permutations = 0
        options.bootstrapResamples = 0
        let analysis = try analyze(trace: trace, options: options)
        let values = try XCTUnwrap(analysis.vocabularySpecialisation)
        XCTAssertEqual(values.count, trace.layers.count)
        for (layer, v) in zip(trace.layers, values) {
            // First expert = largest weight (the first such slot), counted per token id.
            var table: [Int32: [Int32: Int]] = [:]
            for t in 0..<trace.tokenCount {
                let slots = Int(layer.offsets[t])..<Int(layer.offsets[t + 1])
                guard let best = slots.max(by: { layer.weights[$0] < layer.weights[$1] || (layer.weights[$0] == layer.weights[$1] && $0 > $1) })
                else { continue }
                table[trace.labels![t], default: [:]][layer.experts[best], default: 0] += 1
            }
            let frequent = table.values.filter { $0.values.reduce(0, +) >= 10 }
            let expected = frequent.map { Double($0.values.max()!) / Double($0.values.reduce(0, +)) }.reduce(0, +) / Double(frequent.count)
            XCTAssertEqual(v.ids, frequent.count, "block \(layer.layer)")
            XCTAssertEqual(try XCTUnwrap(v.specialisation), expected, accuracy: 1e-12, "block \(layer.layer)")
        }
    }

    /// Experts drawn independently of the ids (Zipf-like ids, sequence-specific expert skews):
    /// the within-sequence test keeps its size, on every unit and on a subset (200 traces each;
    /// measured: size 0.015 and 0.04 at 0.05, 0.07 and 0.08 at 0.10, mean p 0.58 and 0.53,
    /// conservative through ties).
    func testThePermutationTestIsCalibratedUnderItsNull() throws {
        for budget in [1 << 24, 49 * 16 * 6] {
            var pValues: [Double] = []
            for seed in 0..<200 {
                var random = SimulationStream(seed: seed, stream: 3)
                func next() -> Double { random.next() }
                var labels: [Int32] = [], experts: [Int32] = []
                for _ in 0..<20 {
                    let skew = next()
                    for _ in 0..<16 {
                        labels.append(Int32(min(7, Int(1 / max(next(), 0.05)) - 1)))
                        experts.append(next() < skew ? 0 : Int32(1 + Int(next() * 3) % 3))
                    }
                }
                let units = (0...20).map { Int32($0 * 16) }
                let v = vocabularySpecialisation(layer: 0, top1: experts, labels: labels, classCount: 8, experts: 4,
                                                 unitStarts: units, unitName: "sequences", permutations: 49,
                                                 seed: UInt64(seed), budget: budget)
                if budget < 1 << 24 { XCTAssertEqual(v.permutationUnits, 6) }
                pValues.append(try XCTUnwrap(v.permutationP))
            }
            // The statistic is discrete (shares of small counts), so ties make the test conservative:
            // its size stays at or below the level, and p leans above uniform.
            let size05 = Double(pValues.filter { $0 <= 0.05 }.count) / Double(pValues.count)
            let size10 = Double(pValues.filter { $0 <= 0.10 }.count) / Double(pValues.count)
            let mean = pValues.reduce(0, +) / Double(pValues.count)
            print("budget \(budget): size at 0.05 \(size05), at 0.10 \(size10), mean p \(mean)")
            XCTAssertLessThanOrEqual(size05, 0.09, "budget \(budget): size at most about 5 %")
            XCTAssertLessThanOrEqual(size10, 0.15, "budget \(budget): size at most about 10 %")
            XCTAssertGreaterThanOrEqual(size10, 0.02, "budget \(budget): not dead")
            XCTAssertTrue((0.45...0.65).contains(mean), "budget \(budget): mean p \(mean)")
        }
    }

    func testImagesGetNoVocabularySpecialisation() throws {
        // One label per image of consecutive positions: classes, not token ids.
        let n = 12
        let layer = LayerRouting(layer: 0, offsets: (0...n).map(Int32.init), experts: (0..<n).map { Int32($0 % 3) },
                                 weights: [Float](repeating: 1, count: n))
        let images = RoutingTrace(expertCount: 3, tokenCount: n, labels: (0..<n).map { Int32($0 / 4) },
                                  positions: (0..<n).map { Int32($0 % 4) }, classCount: 3, layers: [layer])
        XCTAssertNil(try analyze(trace: images, options: AnalysisOptions(bootstrapResamples: 0, permutations: 9)).vocabularySpecialisation)
    }
}
