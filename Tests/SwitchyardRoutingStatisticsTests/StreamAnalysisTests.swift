import Foundation
import XCTest
import SwitchyardFileIO
import SwitchyardTestSupport
@testable import SwitchyardRoutingStatistics
@testable import SwitchyardTraces

/// The one-pass analysis (`analyze --stream`) against the in-memory analysis of the same NPY
/// directory with no bootstrap and no permutations: every number equal bit for bit (compared as
/// JSON), whatever the chunk size — 1 token, a few, and the whole trace.
final class StreamAnalysisTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "stream-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    /// Random routing of `n` tokens over `layers` layers: 1…k experts per token (sometimes none),
    /// decreasing weights, and router probabilities whose top-k are the experts when `probabilities`.
    func writeTrace(tokens n: Int, layers: Int, experts e: Int, k: Int, probabilities: Bool, seed: UInt64,
                    labels: [Int32]?, positions: [Int32]?, groups: [Int32]?, domains: [Int32]?,
                    sharedGate: Bool = false, meta: String? = nil) throws {
        var rng = TestLCG(state: seed)
        var experts: [Int32] = [], weights: [Double] = [], probs: [Double] = [], gates: [Double] = []
        for _ in 0..<layers {
            for _ in 0..<n {
                let m = rng.next(below: 10) == 0 ? 0 : 1 + rng.next(below: k)
                var chosen: [Int32] = []
                while chosen.count < m {
                    let x = Int32(rng.next(below: e))
                    if !chosen.contains(x) { chosen.append(x) }
                }
                var row = (0..<e).map { _ in Double(1 + rng.next(below: 50)) }
                for (i, x) in chosen.enumerated() { row[Int(x)] = Double(1000 - 100 * i) }
                let total = row.reduce(0, +)
                for j in 0..<k {
                    experts.append(j < m ? chosen[j] : -1)
                    weights.append(j < m ? row[Int(chosen[j])] / total : 0)
                }
                probs += row.map { $0 / total }
                gates.append(Double(rng.next(below: 1000)) / 999)
            }
        }
        try put(npy(experts, shape: [layers, n, k], descr: "<i4"), directory, "experts.npy")
        try put(npy(floats: weights, shape: [layers, n, k]), directory, "weights.npy")
        if probabilities { try put(npy(floats: probs, shape: [layers, n, e]), directory, "probs.npy") }
        if let labels { try put(npy(labels, shape: [n], descr: "<i4"), directory, "labels.npy") }
        if let positions { try put(npy(positions, shape: [n], descr: "<i4"), directory, "positions.npy") }
        if let groups { try put(npy(groups, shape: [n], descr: "<i4"), directory, "groups.npy") }
        if let domains { try put(npy(domains, shape: [n], descr: "<i4"), directory, "domains.npy") }
        if sharedGate { try put(npy(floats: gates, shape: [layers, n]), directory, "shared_gate.npy") }
        if let meta { try Data(meta.utf8).write(to: URL(fileURLWithPath: directory + "/meta.json")) }
    }

    /// The in-memory analysis (bootstrap and permutations off) and the one-pass analysis at several
    /// chunk sizes, as JSON; the shared-expert gate quartiles, which one pass leaves out, are
    /// dropped from the in-memory side and the resampling summaries from both.
    func assertStreamMatches(_ chunkSizes: [Int], allLayerPairs: Bool = false, file: StaticString = #filePath,
                             line: UInt = #line) throws {
        var options = AnalysisOptions(seed: 3)
        options.bootstrapResamples = 0
        options.permutations = 0
        options.allLayerPairs = allLayerPairs
        options.source = directory
        var reference = try analyze(trace: RoutingTraceNPY.read(directory: directory).labelledForStatistics().trace,
                                    options: options)
        for i in (reference.sharedExperts ?? []).indices { reference.sharedExperts![i].gateQuartiles = nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let source = try NPYTraceSource(directory: directory, expertCount: nil)
        for size in chunkSizes {
            var streamed = try analyzeStream(source, options: options, tokensPerChunk: size).analysis
            XCTAssertEqual(streamed.resampling.method, "one_pass", file: file, line: line)
            XCTAssertGreaterThanOrEqual(streamed.resampling.chunks ?? 0, 1, file: file, line: line)
            streamed.resampling = reference.resampling
            let a = String(decoding: try encoder.encode(reference), as: UTF8.self)
            let b = String(decoding: try encoder.encode(streamed), as: UTF8.self)
            XCTAssertEqual(a, b, "chunks of \(size) tokens", file: file, line: line)
        }
    }

    func testImagesOnAPatchGrid() throws {
        // 12 images of a class token and a 3 × 3 grid, one label each, three layers with probabilities.
        let images = 12, perImage = 10, n = images * perImage
        let positions = (0..<n).map { Int32($0 % perImage) }
        let labels = (0..<n).map { Int32(($0 / perImage) % 4) }
        try writeTrace(tokens: n, layers: 3, experts: 6, k: 2, probabilities: true, seed: 1, labels: labels,
                       positions: positions, groups: (0..<n).map { Int32($0 / (perImage * 3)) }, domains: nil)
        try assertStreamMatches([1, 25, 1 << 16], allLayerPairs: true)
        let streamed = try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil), tokensPerChunk: 25).analysis
        XCTAssertEqual(streamed.neighbourAgreement?.first?.neighbours, "patch grid 3×3")
        XCTAssertEqual(streamed.resampling.unit, "images")
        XCTAssertEqual(streamed.resampling.units, images)
    }

    func testOneSequenceAcrossChunksWithRenumberedTokenIDsDomainsAndASharedExpert() throws {
        // No groups: neighbours are consecutive tokens of the whole trace, so pairs cross every
        // chunk boundary. Token ids up to 300,000 over 2 layers × 8 experts exceed 2²⁰ cells and
        // leave ids unused: the classes are renumbered (class_ids).
        let n = 500
        var rng = TestLCG(state: 9)
        let labels = (0..<n).map { _ in Int32([7, 11, 300_000, 42, 42, 42, 5][rng.next(below: 7)]) }
        let domains = (0..<n).map { Int32($0 * 3 / n) }
        try writeTrace(tokens: n, layers: 2, experts: 8, k: 3, probabilities: false, seed: 2, labels: labels,
                       positions: nil, groups: nil, domains: domains, sharedGate: true,
                       meta: #"{"labels": "token ids", "shared_experts": {"count": 1, "gated": true}, "domain_names": ["code", "web", "math"]}"#)
        try assertStreamMatches([1, 2, 7, 64, 1 << 16])
        let streamed = try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil), tokensPerChunk: 7).analysis
        XCTAssertEqual(streamed.classIds, [5, 7, 11, 42, 300_000])
        XCTAssertEqual(streamed.resampling.chunks, 72)
        XCTAssertNotNil(streamed.vocabularySpecialisation)
        XCTAssertEqual(streamed.domainSpecialisation?.first?.names ?? [], ["code", "web", "math"])
        XCTAssertNotNil(streamed.sharedExperts?.first?.meanGate)
        XCTAssertNil(streamed.sharedExperts?.first?.gateQuartiles)
    }

    func testSequencesInRoutingGroupsWithProbabilitiesAndUnknownLabels() throws {
        // Routing groups of 3 to 40 tokens; one label −1 drops the class statistics on both sides.
        var rng = TestLCG(state: 4)
        var groups: [Int32] = []
        while groups.count < 400 { groups += [Int32](repeating: Int32(groups.count), count: 3 + rng.next(below: 38)) }
        let n = groups.count
        var labels = (0..<n).map { _ in Int32(rng.next(below: 30)) }
        labels[17] = -1
        try writeTrace(tokens: n, layers: 2, experts: 16, k: 4, probabilities: true, seed: 3, labels: labels,
                       positions: (0..<n).map { Int32($0 % 50) }, groups: groups, domains: nil,
                       meta: #"{"groups": "sequence index", "blocks": [3, 7]}"#)
        try assertStreamMatches([1, 50, 1 << 16])
        let streamed = try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil), tokensPerChunk: 50)
        XCTAssertEqual(streamed.unknownLabels, 1)
        XCTAssertEqual(streamed.analysis.classCount, 0)
        XCTAssertEqual(streamed.analysis.layers.map(\.layer), [3, 7])
        XCTAssertEqual(streamed.analysis.neighbourAgreement?.first?.neighbours, "consecutive tokens of each routing group")
    }

    /// The sample's trace: whole units read by range and joined, which for ranges that cover the
    /// trace is the trace the in-memory reader gives; a seed draws the same units again.
    func testASampleOfWholeUnits() throws {
        var groups: [Int32] = []
        while groups.count < 300 { groups += [Int32](repeating: Int32(groups.count), count: 5 + groups.count % 17) }
        let n = groups.count
        try writeTrace(tokens: n, layers: 2, experts: 8, k: 2, probabilities: true, seed: 6,
                       labels: (0..<n).map { Int32($0 % 9) }, positions: (0..<n).map { Int32($0 % 7) }, groups: groups,
                       domains: (0..<n).map { Int32($0 % 2) }, sharedGate: true,
                       meta: #"{"groups": "sequence index", "shared_experts": {"count": 1, "gated": true}}"#)
        let source = try NPYTraceSource(directory: directory, expertCount: nil)
        var starts = [0]
        for t in 1..<n where groups[t] != groups[t - 1] { starts.append(t) }
        starts.append(n)
        let ranges = (0..<(starts.count - 1)).map { starts[$0]..<starts[$0 + 1] }
        XCTAssertEqual(try source.trace(ranges: ranges), try RoutingTraceNPY.read(directory: directory))
        var options = AnalysisOptions(seed: 11)
        options.bootstrapResamples = 20
        options.permutations = 20
        let a = try XCTUnwrap(analyzeStream(source, options: options, sampleUnits: 7).sample)
        let b = try XCTUnwrap(analyzeStream(source, options: options, sampleUnits: 7).sample)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.unit, "sequence")
        XCTAssertEqual(a.unitsInTrace, ranges.count)
        XCTAssertEqual(a.unitsKept, 7)
        XCTAssertEqual(a.analysis.resampling.routingGroups, 7)
        XCTAssertNotNil(a.analysis.layers[0].uncertainty?.cv)
        XCTAssertEqual(try analyzeStream(source, options: options, sampleUnits: 1000).sample?.unitsKept, ranges.count)
    }

    /// Router entropy from full probabilities only when every row is a distribution: sigmoid
    /// scores (rows summing to 1.5 here) give none, in memory as in one pass.
    func testEntropyFromFullProbabilitiesOnlyForDistributions() throws {
        func entropy(_ rows: [Float]) throws -> Double? {
            let t = RoutingTrace(expertCount: 2, tokenCount: 2,
                                 layers: [layer(0, [[0], [1]], probabilities: rows)])
            return try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 0, permutations: 0))
                .layers[0].affinity.meanRouterEntropyNats
        }
        let h = -(0.25 * log(0.25) + 0.75 * log(0.75))
        XCTAssertEqual(try XCTUnwrap(entropy([0.75, 0.25, 0.25, 0.75])), h, accuracy: 1e-12)
        XCTAssertNil(try entropy([0.75, 0.25, 0.75, 0.75]))
    }

    /// Memory holds a chunk, not a unit: one routing group of the whole trace is cut into chunks
    /// (its neighbour pairs cross the cuts), while an image, whose grid needs every patch, is not.
    func testALongRoutingGroupIsCutAndAnImageIsNot() throws {
        let n = 100
        try writeTrace(tokens: n, layers: 2, experts: 4, k: 2, probabilities: true, seed: 8, labels: nil,
                       positions: nil, groups: [Int32](repeating: 3, count: n), domains: nil)
        try assertStreamMatches([1, 7])
        XCTAssertEqual(try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil), tokensPerChunk: 7)
            .analysis.resampling.chunks, 15)
        try FileManager.default.removeItem(atPath: directory + "/groups.npy")
        try put(npy((0..<n).map { Int32($0 % 10) }, shape: [n], descr: "<i4"), directory, "positions.npy")
        try put(npy((0..<n).map { Int32($0 / 10 % 3) }, shape: [n], descr: "<i4"), directory, "labels.npy")
        try assertStreamMatches([7])
        XCTAssertEqual(try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil), tokensPerChunk: 7)
            .analysis.resampling.chunks, 10)
    }

    func testBadInputNamesTheFileAndElement() throws {
        try writeTrace(tokens: 20, layers: 1, experts: 4, k: 2, probabilities: false, seed: 5, labels: nil,
                       positions: (0..<20).map { $0 == 13 ? -1 : Int32($0) }, groups: nil, domains: nil)
        var options = AnalysisOptions()
        options.source = directory
        XCTAssertThrowsError(try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil), options: options)) {
            let error = $0 as? InputError
            XCTAssertEqual(error?.location, "positions, token 13")
            XCTAssertTrue(error?.message.contains("position is -1") ?? false, "\($0)")
        }
        try writeTrace(tokens: 4, layers: 1, experts: 4, k: 2, probabilities: false, seed: 5, labels: nil,
                       positions: nil, groups: [0, 0, 1, 0], domains: nil)
        try? FileManager.default.removeItem(atPath: directory + "/positions.npy")
        XCTAssertThrowsError(try analyzeStream(NPYTraceSource(directory: directory, expertCount: nil))) {
            let error = $0 as? InputError
            XCTAssertEqual(error?.file, directory + "/groups.npy")
            XCTAssertTrue(error?.message.contains("group 0 continues after other groups") ?? false, "\($0)")
        }
    }
}
