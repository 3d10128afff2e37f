import XCTest
@testable import SwitchyardRoutingStatistics

/// The bootstrap world of the class–expert affinity (docs/statistics.md): its affinity equals the
/// bootstrap bias-corrected value, 2θ(O) − mean θ*. Mutual information is recomputed here from
/// its definition Σ p_ce log₂(p_ce / (p_c p_e)), V² as χ² / (N (min(r, c) − 1)).
final class AffinityWorldTests: XCTestCase {
    func mutualInformation(_ t: [Double], rows: Int, columns: Int) -> Double {
        let n = t.reduce(0, +)
        var mi = 0.0
        for r in 0..<rows {
            let pr = (0..<columns).reduce(0) { $0 + t[r * columns + $1] } / n
            for c in 0..<columns where t[r * columns + c] > 0 {
                let pc = (0..<rows).reduce(0) { $0 + t[$1 * columns + c] } / n
                let p = t[r * columns + c] / n
                mi += p * log2(p / (pr * pc))
            }
        }
        return mi
    }

    func replicate(mutualInformation: Double, cramersV: Double) -> Headline {
        var h = Headline()
        h.mutualInformation = mutualInformation
        h.cramersV = cramersV
        return h
    }

    /// O = [[30, 10], [10, 30]]: E = 20 everywhere, χ² = 4 · 10² / 20 = 20, V² = 20 / 80 = 0.25.
    let observed: [Double] = [30, 10, 10, 30]

    func testTheWorldHasTheBiasCorrectedAffinity() throws {
        let mi = mutualInformation(observed, rows: 2, columns: 2)
        // Replicates whose mean is 0.05 above V² = 0.25 and 0.01 bits above MI.
        let replicates = [replicate(mutualInformation: mi + 0.005, cramersV: 0.27.squareRoot()),
                          replicate(mutualInformation: mi + 0.015, cramersV: 0.33.squareRoot())]
        let world = try XCTUnwrap(AffinityWorld(observed: observed, rows: 2, columns: 2, replicates: replicates))
        XCTAssertEqual(world.cramersVSquared, 0.25, accuracy: 1e-12)
        XCTAssertEqual(world.cramersVSquaredWorld, 2 * 0.25 - 0.30, accuracy: 1e-12)
        // W = E + λ(O − E) keeps the margins: 20 ± 10λ with λ = √(0.20 / 0.25).
        let lambda = (0.20 / 0.25).squareRoot()
        XCTAssertEqual(world.cramersVTable[0], 20 + 10 * lambda, accuracy: 1e-12)
        XCTAssertEqual(world.cramersVTable[1], 20 - 10 * lambda, accuracy: 1e-12)
        XCTAssertEqual(world.mutualInformationWorld, mi - 0.01, accuracy: 1e-9)
        XCTAssertEqual(mutualInformation(world.mutualInformationTable, rows: 2, columns: 2), mi - 0.01, accuracy: 1e-9)
    }

    func testAReplicateWithoutNoiseHasNoError() throws {
        let mi = mutualInformation(observed, rows: 2, columns: 2)
        var world = try XCTUnwrap(AffinityWorld(observed: observed, rows: 2, columns: 2,
                                                replicates: [replicate(mutualInformation: mi + 0.01, cramersV: 0.55)]))
        world.add(replicate: observed)
        XCTAssertEqual(world.mutualInformationErrors[0], 0, accuracy: 1e-12)
        XCTAssertEqual(world.cramersVSquaredErrors[0], 0, accuracy: 1e-12)
        // Noise moving 2 tokens of class 0 from expert 1 to expert 0 raises both worlds' affinity.
        world.add(replicate: [32, 8, 10, 30])
        XCTAssertGreaterThan(world.mutualInformationErrors[1], 0)
        XCTAssertGreaterThan(world.cramersVSquaredErrors[1], 0)
    }

    /// Replicates no more dependent than the data on average: the world is the data itself.
    func testNoBiasKeepsTheObservedTable() throws {
        let mi = mutualInformation(observed, rows: 2, columns: 2)
        let world = try XCTUnwrap(AffinityWorld(observed: observed, rows: 2, columns: 2,
                                                replicates: [replicate(mutualInformation: mi, cramersV: 0.5)]))
        for (w, o) in zip(world.mutualInformationTable, observed) { XCTAssertEqual(w, o, accuracy: 1e-9) }
        for (w, o) in zip(world.cramersVTable, observed) { XCTAssertEqual(w, o, accuracy: 1e-12) }
    }
}
