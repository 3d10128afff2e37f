import SwitchyardFileIO
import Foundation
import XCTest
@testable import SwitchyardTraces
import SwitchyardTensorCore

final class TraceSampleTests: XCTestCase {
    /// `tokens` tokens in two layers (blocks 0 and 2) of 6 experts: token t takes experts
    /// t mod 6 and (t + layer + 1) mod 6, every seventh token none in block 2; labels t mod 3,
    /// positions t (so that tests can tell the tokens apart); with `groupSize`, routing groups
    /// of that many tokens.
    func csv(tokens: Int, groupSize: Int? = nil) -> [UInt8] {
        var text = "token,layer,expert,weight,label,position,prob" + (groupSize != nil ? ",group" : "") + "\n"
        for t in 0..<tokens {
            let group = groupSize.map { ",\(t / $0)" } ?? ""
            for block in [0, 2] {
                if block == 2 && t % 7 == 0 {
                    text += "\(t),\(block),-1,,\(t % 3),\(t),0.5\(group)\n"
                    continue
                }
                text += "\(t),\(block),\(t % 6),0.75,\(t % 3),\(t),0.625\(group)\n"
                text += "\(t),\(block),\((t + block + 1) % 6),0.25,\(t % 3),\(t),0.25\(group)\n"
            }
        }
        return Array(text.utf8)
    }

    func testASampleOfEveryUnitIsTheWholeTrace() throws {
        let bytes = csv(tokens: 50, groupSize: 5)
        var g = SeededRNG(seed: 1)
        let sample = try RoutingTraceCSV.sample(bytes: bytes, file: "t.csv", expertCount: 6, units: 10, using: &g)
        var trace = sample.trace
        XCTAssertEqual(trace.metadata.removeValue(forKey: "sample"), "10 of 10 routing groups, drawn uniformly (reservoir sampling)")
        XCTAssertEqual(trace, try RoutingTraceCSV.parse(bytes, file: "t.csv", expertCount: 6))
        XCTAssertEqual(sample.unitName, "routing group")
        XCTAssertEqual(sample.unitsInFile, 10)
        XCTAssertEqual(sample.tokensInFile, 50)
        XCTAssertEqual(sample.blockNumbers, [0, 2])
        XCTAssertEqual(sample.rows, 50 * 4 - 8)
        // Whole-file counts: block 0 has two experts for every token, block 2 for 42 of 50.
        XCTAssertEqual(sample.tokensWithExpert, [50, 42])
        XCTAssertEqual(sample.expertCounts.map { $0.reduce(0, +) }, [100, 84])
        let full = try RoutingTraceCSV.parse(bytes, file: "t.csv", expertCount: 6)
        for l in 0..<2 {
            var counts = [Int](repeating: 0, count: 6)
            for e in full.layers[l].experts { counts[Int(e)] += 1 }
            XCTAssertEqual(sample.expertCounts[l], counts)
        }
    }

    func testKeptUnitsAreWholeAndUnchanged() throws {
        let bytes = csv(tokens: 60, groupSize: 4)
        let full = try RoutingTraceCSV.parse(bytes, file: "t.csv", expertCount: 6)
        var g = SeededRNG(seed: 7)
        let sample = try RoutingTraceCSV.sample(bytes: bytes, file: "t.csv", expertCount: 6, units: 5, using: &g)
        let trace = sample.trace
        XCTAssertEqual(sample.unitsKept, 5)
        XCTAssertEqual(sample.unitsInFile, 15)
        XCTAssertEqual(trace.tokenCount, 20)
        XCTAssertEqual(trace.routingGroups, [4, 4, 4, 4, 4])
        // Each kept token is some original token with its label, experts and weights; groups
        // are kept whole: the four tokens of a sampled group are consecutive originals.
        var previous = -1
        for u in 0..<5 {
            let first = Int(trace.positions![u * 4])
            XCTAssertEqual(first % 4, 0, "sampled group \(u) does not start a group of the file")
            XCTAssertGreaterThan(first, previous, "sampled groups are in file order")
            previous = first
            for i in 0..<4 { XCTAssertTrue(sameToken(trace, u * 4 + i, full, first + i), "group \(u), token \(i)") }
        }
        // The same seed draws the same sample; another seed another.
        var again = SeededRNG(seed: 7), other = SeededRNG(seed: 8)
        XCTAssertEqual(try RoutingTraceCSV.sample(bytes: bytes, file: "t.csv", expertCount: 6, units: 5, using: &again).trace, trace)
        XCTAssertNotEqual(try RoutingTraceCSV.sample(bytes: bytes, file: "t.csv", expertCount: 6, units: 5, using: &other).trace, trace)
    }

    func sameToken(_ a: RoutingTrace, _ s: Int, _ b: RoutingTrace, _ t: Int) -> Bool {
        guard t < b.tokenCount, a.labels?[s] == b.labels?[t], a.positions?[s] == b.positions?[t] else { return false }
        for l in 0..<a.layers.count {
            let (x, y) = (a.layers[l], b.layers[l])
            let xs = Int(x.offsets[s])..<Int(x.offsets[s + 1]), ys = Int(y.offsets[t])..<Int(y.offsets[t + 1])
            if Array(x.experts[xs]) != Array(y.experts[ys]) || Array(x.weights[xs]) != Array(y.weights[ys]) { return false }
            if x.topProbability?[s] != y.topProbability?[t] { return false }
        }
        return true
    }

    /// Reservoir sampling keeps each unit with probability N/M: 20 tokens, 5 kept, 800 seeds;
    /// each token's count is Binomial(800, 1/4) (mean 200, SD 12.2): all within ±50 (4 SD; the
    /// chance that any of 20 falls outside is below 0.1 %), and Pearson's χ² of the 20 counts,
    /// χ²(19) under uniformity, below 43.8 (its 0.999 quantile).
    func testEveryUnitIsEquallyLikely() throws {
        let bytes = csv(tokens: 20)
        var counts = [Int](repeating: 0, count: 20)
        let full = try RoutingTraceCSV.parse(bytes, file: "t.csv", expertCount: 6)
        for seed in 0..<800 {
            var g = SeededRNG(seed: UInt64(seed))
            let trace = try RoutingTraceCSV.sample(bytes: bytes, file: "t.csv", expertCount: 6, units: 5, using: &g).trace
            XCTAssertEqual(trace.tokenCount, 5)
            for s in 0..<5 {
                let t = Int(trace.positions![s])
                XCTAssertTrue(sameToken(trace, s, full, t))
                counts[t] += 1
            }
        }
        XCTAssertEqual(counts.reduce(0, +), 4000)
        let chi2 = counts.reduce(0.0) { $0 + pow(Double($1) - 200, 2) / 200 }
        XCTAssertLessThan(chi2, 43.8, "\(counts)")
        for c in counts { XCTAssertEqual(Double(c), 200, accuracy: 50, "\(counts)") }
    }

    func testSmallChunksGiveTheSameSample() throws {
        let bytes = csv(tokens: 300, groupSize: 10)
        let directory = try makeTemporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("t.csv")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var a = SeededRNG(seed: 3), b = SeededRNG(seed: 3)
        let fromFile = try RoutingTraceCSV.sample(.file(path, chunkSize: 256), file: path, expertCount: nil, units: 7, using: &a)
        let fromBytes = try RoutingTraceCSV.sample(bytes: bytes, file: path, expertCount: nil, units: 7, using: &b)
        XCTAssertEqual(fromFile.trace, fromBytes.trace)
        XCTAssertEqual(fromFile.expertCounts, fromBytes.expertCounts)
        XCTAssertNotNil(fromFile.trace.metadata["importWarnings"], "the inferred expert count is noted")
    }

    func testFilesOutOfOrderAndBadSizesAreRefused() throws {
        var g = SeededRNG(seed: 1)
        let unsorted = Array("token,layer,expert,weight\n0,0,1,1\n2,0,1,1\n1,0,0,1\n".utf8)
        assertInputError(try RoutingTraceCSV.sample(bytes: unsorted, file: "u.csv", units: 2, using: &g),
                         file: "u.csv", location: "line 4, column 'token'", message: "token 1 after token 2")
        let groups = Array("token,layer,expert,weight,group\n0,0,1,1,1\n1,0,1,1,0\n".utf8)
        assertInputError(try RoutingTraceCSV.sample(bytes: groups, file: "g.csv", units: 2, using: &g),
                         file: "g.csv", location: "line 3, column 'group'", message: "group 0 after group 1")
        let split = Array("token,layer,expert,weight,group\n0,0,1,1,0\n0,1,1,1,1\n".utf8)
        assertInputError(try RoutingTraceCSV.sample(bytes: split, file: "s.csv", units: 2, using: &g),
                         file: "s.csv", location: "line 3, column 'group'", message: "token 0 is in group 1 here and in group 0 on line 2")
        assertInputError(try RoutingTraceCSV.sample(bytes: csv(tokens: 3), file: "z.csv", units: 0, using: &g),
                         file: "z.csv", location: "sample size", message: "0 units")
        // A cell error is the file's, with its line.
        let bad = Array("token,layer,expert,weight\n0,0,1,1\n1,0,x,1\n".utf8)
        assertInputError(try RoutingTraceCSV.sample(bytes: bad, file: "b.csv", units: 2, using: &g),
                         file: "b.csv", location: "line 3, column 'expert'", message: "'x' is not an integer")
    }
}
