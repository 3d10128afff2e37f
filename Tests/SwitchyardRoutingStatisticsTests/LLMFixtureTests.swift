import Foundation
import XCTest
@testable import SwitchyardRoutingStatistics
import SwitchyardTraces

/// The language-model fixtures of Tests/Fixtures/llm: routing of tiny random Hugging Face
/// Mixtral, Qwen2-MoE (MoE in blocks 1 and 3, a shared expert), OLMoE and DeepSeek-V3 (sigmoid,
/// bias, expert groups) models on padded batches, written by exporters/hf_routing_export.py
/// (`make llm-fixtures`, docs/llm-traces.md). Each folder's `expected.json` holds numbers that
/// exporters/make_fixtures.py recomputed with numpy from the .npy files alone: load counts
/// (bincount), CV (population std / mean), experts per token, co-activation ratios
/// (one-hot product N_ij / N_i over (k − 1)/(E − 1), pairs with N_i ≥ 10) and neighbour agreement
/// (first expert = first maximum of probs.npy, else of the weights; pairs of consecutive tokens
/// of one sequence; chance Σ f²). The numbers here come from the Swift import and statistics.
final class LLMFixtureTests: XCTestCase {
    struct Expected: Decodable {
        struct Agreement: Decodable { var pairs: Int; var agreement: Double; var chance: Double }
        struct Layer: Decodable {
            var block: Int
            var counts: [Int]
            var cv: Double
            var mean_experts_per_token: Double
            var dropped: Int
            var neighbours_in_sequence: Agreement
            var neighbours_without_position_0: Agreement
            var coactivation_max_ratio: Double
            var coactivation_min_ratio: Double
        }
        var tokens: Int
        var experts: Int
        var k: Int
        var blocks: [Int]
        var sequences: Int
        var layers: [Layer]
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/llm").standardized

    func check(_ family: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = Self.folder.appendingPathComponent(family)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: dir.appendingPathComponent("expected.json")))
        let trace = try TraceLoader.load(dir.path)
        XCTAssertEqual(trace.tokenCount, expected.tokens, "pads left out by the exporter", file: file, line: line)
        XCTAssertEqual(trace.expertCount, expected.experts, file: file, line: line)
        XCTAssertEqual(trace.layers.map(\.layer), expected.blocks, "block numbers from meta.json", file: file, line: line)
        XCTAssertEqual(trace.kind, .sequences, "meta.json says the labels are token ids", file: file, line: line)
        let groupSizes = try XCTUnwrap(trace.routingGroups, file: file, line: line)
        XCTAssertEqual(groupSizes.count, expected.sequences, "one routing group per sequence", file: file, line: line)

        var options = AnalysisOptions()
        options.bootstrapResamples = 0
        options.permutations = 0
        let analysis = try analyze(trace: trace, options: options)
        // Labels are token ids (not one per run), so analyze reads the trace as sequences: the
        // neighbours are consecutive tokens of each routing group, position 0 included.
        let agreements = try XCTUnwrap(analysis.neighbourAgreement, file: file, line: line)
        for (l, want) in expected.layers.enumerated() {
            XCTAssertEqual(agreements[l].neighbours, "consecutive tokens of each routing group", file: file, line: line)
            XCTAssertEqual(agreements[l].pairs, want.neighbours_in_sequence.pairs, "block \(want.block)", file: file, line: line)
            XCTAssertEqual(try XCTUnwrap(agreements[l].agreement), want.neighbours_in_sequence.agreement, accuracy: 1e-12, file: file, line: line)
            XCTAssertEqual(try XCTUnwrap(agreements[l].chance), want.neighbours_in_sequence.chance, accuracy: 1e-12, file: file, line: line)
        }

        let shape = try checkTrace(trace, source: nil)
        var starts: [Int32] = [0]
        for size in groupSizes { starts.append(starts.last! + Int32(size)) }
        let inSequence = NeighbourPairs(positions: nil, unitStarts: starts)
        let withPositions = NeighbourPairs(positions: trace.positions, unitStarts: starts)
        XCTAssertEqual(withPositions.description, "consecutive patches", "largest position 61 is not a square", file: file, line: line)

        for (l, want) in expected.layers.enumerated() {
            let layer = analysis.layers[l]
            XCTAssertEqual(layer.layer, want.block, file: file, line: line)
            XCTAssertEqual(layer.load.counts, want.counts, "block \(want.block)", file: file, line: line)
            XCTAssertEqual(try XCTUnwrap(layer.load.cv), want.cv, accuracy: 1e-12, "block \(want.block)", file: file, line: line)
            XCTAssertEqual(try XCTUnwrap(layer.heterogeneity.meanExpertsPerToken), want.mean_experts_per_token, accuracy: 1e-12, file: file, line: line)
            XCTAssertEqual(layer.load.droppedTokens, want.dropped, "block \(want.block): pads are not drops", file: file, line: line)
            let co = try XCTUnwrap(analysis.coActivation?[l], file: file, line: line)
            XCTAssertEqual(try XCTUnwrap(co.maxRatio), want.coactivation_max_ratio, accuracy: 1e-9, "block \(want.block)", file: file, line: line)
            XCTAssertEqual(try XCTUnwrap(co.minRatio), want.coactivation_min_ratio, accuracy: 1e-9, "block \(want.block)", file: file, line: line)

            let top1 = try reduceLayer(trace.layers[l], of: trace, shape: shape, source: nil).top1
            for (pairs, pinned) in [(inSequence, want.neighbours_in_sequence), (withPositions, want.neighbours_without_position_0)] {
                let a = neighbourAgreement(layer: l, top1: top1, pairs: pairs, experts: trace.expertCount, permutations: 0, seed: 0)
                XCTAssertEqual(a.pairs, pinned.pairs, "block \(want.block)", file: file, line: line)
                XCTAssertEqual(try XCTUnwrap(a.agreement), pinned.agreement, accuracy: 1e-12, "block \(want.block)", file: file, line: line)
                XCTAssertEqual(try XCTUnwrap(a.chance), pinned.chance, accuracy: 1e-12, "block \(want.block)", file: file, line: line)
            }
        }
    }

    func testMixtral() throws { try check("mixtral") }
    func testQwen2MoEWithSharedExpertInEverySecondBlock() throws { try check("qwen2_moe") }
    func testOLMoE() throws { try check("olmoe") }
    func testDeepSeekV3SigmoidBiasAndGroups() throws { try check("deepseek_v3") }

    func testSharedExpertsAndProvenanceAreKept() throws {
        let qwen = try TraceLoader.load(Self.folder.appendingPathComponent("qwen2_moe").path)
        XCTAssertEqual(qwen.metadata["sharedExperts"], "1 (gated)")
        XCTAssertEqual(qwen.metadata["model_type"], "qwen2_moe")
        XCTAssertEqual(qwen.metadata["labelKind"], "token ids")
        let mixtral = try TraceLoader.load(Self.folder.appendingPathComponent("mixtral").path)
        XCTAssertNil(mixtral.metadata["sharedExperts"])
    }

    /// The shared experts' share of the combine weight, against numpy on the .npy files:
    /// Qwen2-MoE `g = shared_gate.npy[l]`, `s = weights.npy[l].sum(1)`, mean(g / (g + s)),
    /// mean(g), np.quantile(g, [.25, .5, .75]); DeepSeek-V3 (one ungated shared expert)
    /// mean(1 / (1 + s)), its routed weights summing to routed_scaling_factor 2.5.
    func testSharedExpertShareMatchesNumpy() throws {
        let options = AnalysisOptions(bootstrapResamples: 0, permutations: 0)
        let qwen = try XCTUnwrap(try analyze(trace: TraceLoader.load(Self.folder.appendingPathComponent("qwen2_moe").path),
                                             options: options).sharedExperts)
        XCTAssertEqual(qwen.map(\.layer), [1, 3])
        XCTAssertEqual(qwen.map(\.gate), ["sigmoid", "sigmoid"])
        let numpy: [(share: Double, mean: Double, quartiles: [Double], routed: Double)] = [
            (0.39908158151947304, 0.5690249891730094, [0.4461936503648758, 0.5861040949821472, 0.7132021188735962],
             0.8200121703363873),
            (0.2977781889166204, 0.38660919456404474, [0.21054083853960037, 0.3592105507850647, 0.5482872426509857],
             0.8283279286068581)]
        for (s, n) in zip(qwen, numpy) {
            XCTAssertEqual(try XCTUnwrap(s.sharedShare), n.share, accuracy: 1e-12)
            XCTAssertEqual(try XCTUnwrap(s.meanGate), n.mean, accuracy: 1e-12)
            for (a, b) in zip(try XCTUnwrap(s.gateQuartiles), n.quartiles) { XCTAssertEqual(a, b, accuracy: 1e-12) }
            XCTAssertEqual(s.meanRoutedWeight, n.routed, accuracy: 1e-9)
        }
        let deepseek = try XCTUnwrap(try analyze(trace: TraceLoader.load(Self.folder.appendingPathComponent("deepseek_v3").path),
                                                 options: options).sharedExperts)
        XCTAssertEqual(deepseek.map(\.gate), ["none", "none"])
        XCTAssertNil(deepseek[0].meanGate)
        XCTAssertEqual(try XCTUnwrap(deepseek[0].sharedShare), 0.2857142858862183, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(deepseek[1].sharedShare), 0.2857142857238377, accuracy: 1e-9)
        XCTAssertNil(try analyze(trace: TraceLoader.load(Self.folder.appendingPathComponent("mixtral").path),
                                 options: options).sharedExperts)
    }

    func testDeepSeekScoresAreNotReadAsDrops() throws {
        // router_scores.npy (not probs.npy): with it read as probabilities, tokens whose most
        // probable expert the bias or the groups steer away from would count as dropped.
        let dir = Self.folder.appendingPathComponent("deepseek_v3")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("probs.npy").path))
        let trace = try TraceLoader.load(dir.path)
        XCTAssertTrue(trace.layers.allSatisfy { $0.probabilities == nil && $0.preferredExpert == nil })
    }
}
