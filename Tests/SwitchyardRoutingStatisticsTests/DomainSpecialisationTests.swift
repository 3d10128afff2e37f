import XCTest
import SwitchyardTraces
@testable import SwitchyardRoutingStatistics

/// Domain specialisation (routers-next B3): shares of a domain's tokens per expert, their lift
/// over the expert's overall share, and the permutation test over sequences.
final class DomainSpecialisationTests: XCTestCase {
    /// `sequences` sequences of 20 tokens, top-2 of 8; each sequence has domain `s % 3`, and
    /// with `boost` a domain-d token takes expert 2d first more often.
    static func domainTrace(sequences: Int, boost: Bool, seed: UInt64) -> RoutingTrace {
        var random = TestLCG(state: seed)
        let n = sequences * 20
        let domains = (0..<n).map { Int32($0 / 20 % 3) }
        let experts = (0..<n).map { t -> [Int] in
            let first = boost && random.next(below: 2) == 0 ? 2 * Int(domains[t]) : random.next(below: 8)
            return [first, (first + 1 + random.next(below: 7)) % 8]
        }
        var t = trace(experts: 8, layers: [experts, experts.map { [$0[1], $0[0]] }])
        t.routingGroups = [Int](repeating: 20, count: sequences)
        t.domains = domains
        t.domainNames = ["code", "math", "prose"]
        return t
    }

    /// Shares, lift and MI recounted from the assignments; the test finds the boost.
    func testSharesLiftAndTestOfADomainBoost() throws {
        let t = Self.domainTrace(sequences: 60, boost: true, seed: 4)
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 0, permutations: 99, seed: 3))
        let d = try XCTUnwrap(a.domainSpecialisation)
        XCTAssertEqual(d.count, 2)
        XCTAssertEqual(d[0].tokens, [400, 400, 400])
        XCTAssertEqual(d[0].names, ["code", "math", "prose"])
        XCTAssertEqual(d[0].units, "routing groups")
        XCTAssertEqual(d[0].unitCount, 60)
        XCTAssertEqual(d[0].chance, 2.0 / 8)
        var table = [[Double]](repeating: [Double](repeating: 0, count: 8), count: 3)
        for token in 0..<t.tokenCount {
            for j in Int(t.layers[0].offsets[token])..<Int(t.layers[0].offsets[token + 1]) {
                table[Int(t.domains![token])][Int(t.layers[0].experts[j])] += 1
            }
        }
        for domain in 0..<3 {
            for expert in 0..<8 {
                XCTAssertEqual(d[0].share[domain][expert], table[domain][expert] / 400, accuracy: 1e-15)
            }
            // The boosted expert 2d has the largest lift.
            XCTAssertEqual(d[0].liftExpert[domain], 2 * domain)
            let overall = (0..<3).reduce(0.0) { $0 + table[$1][2 * domain] } / 1200
            XCTAssertEqual(try XCTUnwrap(d[0].lift[domain]), table[domain][2 * domain] / 400 / overall, accuracy: 1e-12)
        }
        XCTAssertEqual(d[0].overallShare.reduce(0, +), 2, accuracy: 1e-12, "two experts per token")
        let mi = try XCTUnwrap(Statistics.contingency(table).mutualInformationBits)
        XCTAssertEqual(try XCTUnwrap(d[0].mutualInformationBits), mi, accuracy: 1e-12)
        for layer in d { XCTAssertEqual(try XCTUnwrap(layer.permutationP), 0.01, accuracy: 1e-12) }
        XCTAssertTrue(a.summary().contains("domain specialisation"))
        XCTAssertTrue(a.summary().contains("code "))
    }

    /// Without a boost the permutation p is uniform over traces: of 40 null traces, about 5 %
    /// below 0.05 (at most 6, a binomial tail below 1 %), and the mean near 0.5.
    func testPermutationPIsCalibratedUnderTheNull() throws {
        var ps: [Double] = []
        for seed in 0..<40 {
            let t = Self.domainTrace(sequences: 30, boost: false, seed: UInt64(100 + seed))
            let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 0, permutations: 99, seed: UInt64(seed)))
            ps.append(try XCTUnwrap(a.domainSpecialisation?[0].permutationP))
        }
        XCTAssertLessThanOrEqual(ps.filter { $0 < 0.05 }.count, 6)
        XCTAssertEqual(ps.reduce(0, +) / 40, 0.5, accuracy: 0.12)
    }

    /// A domain that changes inside a routing group makes tokens the units.
    func testDomainsVaryingInsideGroupsPermuteTokens() throws {
        var t = Self.domainTrace(sequences: 10, boost: false, seed: 1)
        t.domains = (0..<t.tokenCount).map { Int32($0 % 2) }
        t.domainNames = []
        let a = try analyze(trace: t, options: AnalysisOptions(bootstrapResamples: 0, permutations: 19, seed: 1))
        let d = try XCTUnwrap(a.domainSpecialisation?.first)
        XCTAssertEqual(d.units, "tokens")
        XCTAssertEqual(d.unitCount, 200)
        XCTAssertNil(d.names)
        XCTAssertNil(try analyze(trace: Self.domainTrace(sequences: 3, boost: false, seed: 1).withoutDomains(),
                                 options: AnalysisOptions(bootstrapResamples: 0, permutations: 0)).domainSpecialisation)
    }
}

private extension RoutingTrace {
    func withoutDomains() -> RoutingTrace {
        var t = self
        t.domains = nil
        t.domainNames = []
        return t
    }
}
