import XCTest
@testable import SwitchyardRoutingStatistics

/// At the boundary MI = V = 0 the confidence set is the calibrated permutation test's
/// inversion (docs/statistics.md): 0 is in the set exactly when the test does not reject.
final class AffinityBoundaryTests: XCTestCase {
    /// 60 traces of an E = 8 population whose routing ignores the class (MI = V = 0).
    func testZeroIsInTheSetExactlyWhenThePermutationTestDoesNotReject() throws {
        let s = CoverageScenario(name: "null", experts: 8, layers: 1, tokens: 1_000, loadSkew: 0.3, affinity: 0,
                                 fixedClassCounts: true)
        let population = CoveragePopulation(s, seed: 1)
        var rejectedAtZero = 0, notRejected = 0
        for r in 0..<60 {
            let options = AnalysisOptions(bootstrapResamples: 100, permutations: 100, seed: UInt64(r), includeTables: false)
            let a = try analyze(trace: population.trace(seed: UInt64(r)), options: options).layers[0]
            let p = try XCTUnwrap(a.affinity.mutualInformationPermutationP)
            let rejected = p <= 0.05
            for interval in [a.uncertainty?.mutualInformationBits, a.uncertainty?.cramersV] {
                let i = try XCTUnwrap(interval)
                XCTAssertEqual(i.contains(0), !rejected, "trace \(r), p = \(p)")
                XCTAssertEqual(i.noDetectableEffect == true, !rejected, "trace \(r)")
                if rejected && i.lower == 0 {
                    XCTAssertEqual(i.lowerOpen, true)
                    rejectedAtZero += 1
                }
            }
            if !rejected { notRejected += 1 }
        }
        // The case the rule is for occurs (a rejecting trace whose bootstrap interval reaches 0),
        // and the test rejects about as often as its level says.
        XCTAssertGreaterThan(rejectedAtZero, 0)
        XCTAssertGreaterThanOrEqual(notRejected, 50)
    }

    func testAStrongAffinityKeepsAClosedIntervalAboveZero() throws {
        let s = CoverageScenario(name: "strong", experts: 8, layers: 1, tokens: 1_000, loadSkew: 0.3, affinity: 1,
                                 fixedClassCounts: true)
        let options = AnalysisOptions(bootstrapResamples: 100, permutations: 100, seed: 1, includeTables: false)
        let a = try analyze(trace: CoveragePopulation(s, seed: 1).trace(seed: 1), options: options).layers[0]
        let mi = try XCTUnwrap(a.uncertainty?.mutualInformationBits)
        XCTAssertGreaterThan(mi.lower, 0)
        XCTAssertNil(mi.lowerOpen)
        XCTAssertNil(mi.noDetectableEffect)
    }

    func testAnOpenLowerEndIsShownAndChecked() {
        var i = BootstrapInterval(estimate: 0.02, lower: 0, upper: 0.04, standardError: 0.01, resamples: 100)
        XCTAssertTrue(i.contains(0))
        i = i.withDetectedEffect()
        XCTAssertFalse(i.contains(0))
        XCTAssertTrue(i.contains(1e-9))
        XCTAssertNil(i.warning)
        XCTAssertEqual(formatInterval(i), " (0.000, 0.040]")
        // A bias-corrected estimate of 0 is outside the open interval: the warning says so.
        let zero = BootstrapInterval(estimate: 0, lower: 0, upper: 0.04, standardError: 0.01, resamples: 100)
        XCTAssertNotNil(zero.withDetectedEffect().warning)
        // A lower end above 0 is left as it is.
        let above = BootstrapInterval(estimate: 0.02, lower: 0.01, upper: 0.04, standardError: 0.01, resamples: 100)
        XCTAssertEqual(above.withDetectedEffect(), above)
    }
}
