import XCTest
@testable import SwitchyardRoutingStatistics

/// Gini's shrunk-world interval (docs/statistics.md), on hand-made replicates; its coverage is
/// the harness's (`switchyard bench coverage`). Gini is recomputed here from its pair form
/// Σ_{i<j} |p_i − p_j| / K, not the sorted form `Statistics.gini` uses.
final class GiniIntervalTests: XCTestCase {
    func pairGini(_ p: [Double]) -> Double {
        var sum = 0.0
        for i in p.indices { for j in p.indices where j > i { sum += abs(p[i] - p[j]) } }
        return sum / Double(p.count) / p.reduce(0, +)
    }

    func headline(_ shares: [Double]) -> Headline {
        var h = Headline()
        h.shares = shares
        h.gini = pairGini(shares)
        return h
    }

    /// 201 replicates moving the first two shares apart by ±0.02.
    let noise = (0...200).map { Double($0 - 100) * 0.0002 }

    func testReplicatesWithoutNoiseGiveThePlugIn() throws {
        let estimate = headline([0.5, 0.3, 0.2])
        let interval = try XCTUnwrap(giniInterval([Headline](repeating: estimate, count: 50), estimate, confidence: 0.95))
        XCTAssertEqual(try XCTUnwrap(interval.estimate), pairGini([0.5, 0.3, 0.2]), accuracy: 1e-15)
        XCTAssertEqual(interval.lower, interval.upper, accuracy: 1e-15)
        XCTAssertEqual(interval.method, "shrunk-world iterated bootstrap")
    }

    /// The estimate is G(p̂) − [mean G(p̃ + ε*) − G(p̃)] with p̃ = 1/K + λ(p̂ − 1/K),
    /// λ² = (S − V)/S, S = Σ(p̂ − 1/K)², V = Σ_j Var(ε_j) (sample variances).
    func testTheEstimateSubtractsTheBiasOfTheShrunkWorld() throws {
        let p = [0.40, 0.35, 0.25]
        let replicates = noise.map { headline([0.40 + $0, 0.35 - $0, 0.25]) }
        let interval = try XCTUnwrap(giniInterval(replicates, headline(p), confidence: 0.95))
        let n = Double(noise.count), mean = noise.reduce(0, +) / n
        let variance = 2 * noise.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        let spread = p.reduce(0) { $0 + ($1 - 1.0 / 3) * ($1 - 1.0 / 3) }
        let lambda = ((spread - variance) / spread).squareRoot()
        let world = p.map { 1.0 / 3 + lambda * ($0 - 1.0 / 3) }
        let bias = noise.reduce(0) { $0 + pairGini([world[0] + $1, world[1] - $1, world[2]]) } / n - pairGini(world)
        XCTAssertEqual(try XCTUnwrap(interval.estimate), pairGini(p) - bias, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(interval.plugIn), pairGini(p), accuracy: 1e-15)
        XCTAssertLessThan(interval.lower, try XCTUnwrap(interval.estimate))
        XCTAssertGreaterThan(interval.upper, try XCTUnwrap(interval.estimate))
    }

    /// Two exactly tied shares: the shrunk world is the tie (S = 0), where noise alone gives
    /// G = mean |ε| ≈ 0.01; data more even than that clamp the estimate and the lower end at the
    /// boundary 0, and the upper end stays within the noise's range (the basic interval of the
    /// plug-in, [2·0 − q*_hi, 2·0 − q*_lo], would lie wholly below 0). The grid is visited in a
    /// spread order (37 is prime to 201) so that the first 50 draws, which estimate each world
    /// replicate's bias, cover it.
    func testATieStaysATie() throws {
        let spread = noise.indices.map { noise[($0 * 37) % noise.count] }
        let replicates = spread.map { headline([0.5 + $0, 0.5 - $0]) }
        let interval = try XCTUnwrap(giniInterval(replicates, headline([0.5, 0.5]), confidence: 0.95))
        XCTAssertEqual(try XCTUnwrap(interval.estimate), 0)
        XCTAssertEqual(interval.lower, 0)
        XCTAssertGreaterThanOrEqual(interval.upper, 0)
        XCTAssertLessThan(interval.upper, 0.02)
    }

    func testNoUsableReplicatesGiveNoInterval() {
        XCTAssertNil(giniInterval([headline([0.5, 0.5])], headline([0.5, 0.5]), confidence: 0.95))
    }
}
