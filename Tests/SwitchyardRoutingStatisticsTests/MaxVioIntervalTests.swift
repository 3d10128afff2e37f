import XCTest
@testable import SwitchyardRoutingStatistics

/// MaxVio's moment-selection interval (docs/statistics.md), on hand-made replicates whose
/// quantiles are known; its coverage is the harness's (`switchyard bench coverage`).
final class MaxVioIntervalTests: XCTestCase {
    /// A replicate with the given shares (MaxVio K·max p − 1).
    func headline(_ shares: [Double]) -> Headline {
        var h = Headline()
        h.shares = shares
        h.maxVio = Double(shares.count) * shares.max()! - 1
        return h
    }

    /// 201 replicates whose first share's noise runs evenly over ±0.02.
    let noise = (0...200).map { Double($0 - 100) * 0.0002 }

    func testAClearMaximumGivesTheBasicIntervalOfItsShare() throws {
        let estimate = headline([0.6, 0.2, 0.2])
        let replicates = noise.map { headline([0.6 + $0, 0.2 - $0 / 2, 0.2 - $0 / 2]) }
        let interval = try XCTUnwrap(maxVioInterval(replicates, estimate, estimate: 0.8, confidence: 0.95))
        XCTAssertEqual(interval.method, "moment selection")
        // Noise quantiles ±0.019 (type 7: the 195th of 201 grid points): [3·(0.6 − 0.019) − 1, 3·(0.6 + 0.019) − 1].
        XCTAssertEqual(interval.lower, 3 * (0.6 - 0.019) - 1, accuracy: 1e-12)
        XCTAssertEqual(interval.upper, 3 * (0.6 + 0.019) - 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(interval.plugIn), 0.8, accuracy: 1e-12)
    }

    /// Two tied shares, each replicate moving one up and the other down: T − max p is the larger
    /// of the two noises, |ε|, so the lower end takes |ε|'s upper quantile off T, and the upper
    /// end one share's lower quantile.
    func testATieTakesTheMaximumOfTheTiedSharesNoise() throws {
        let estimate = headline([0.5, 0.5])
        let replicates = noise.map { headline([0.5 + $0, 0.5 - $0]) }
        let interval = try XCTUnwrap(maxVioInterval(replicates, estimate, estimate: 0, confidence: 0.95))
        let largest = try XCTUnwrap(Statistics.percentileInterval(noise.map(abs), confidence: 0.95)).upper
        XCTAssertEqual(interval.lower, max(0, 2 * (0.5 - largest) - 1), accuracy: 1e-12)
        XCTAssertEqual(interval.upper, 2 * (0.5 + 0.019) - 1, accuracy: 1e-12)
        XCTAssertEqual(interval.lower, 0, "clamped: MaxVio ≥ 0")
    }

    func testNoUsableReplicatesGiveNoInterval() {
        XCTAssertNil(maxVioInterval([headline([0.5, 0.5])], headline([0.5, 0.5]), estimate: 0, confidence: 0.95))
    }
}
