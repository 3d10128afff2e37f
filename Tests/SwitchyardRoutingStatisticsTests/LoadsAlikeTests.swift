import XCTest
@testable import SwitchyardRoutingStatistics
import SwitchyardTraces

/// Routing by patch position loads every image alike: no resample changes the loads, so CV,
/// Gini, MaxVio and experts per token are exact plug-in values ("fixed", docs/statistics.md),
/// with no bias correction and no interval that excludes its own estimate.
final class LoadsAlikeTests: XCTestCase {
    /// 20 images of 5 patches, patch p to expert p mod 3 (loads 2, 2, 1 per image), in two layers;
    /// `odd` moves one token of image 7 to another expert.
    func trace(groups: Bool, odd: Bool = false) -> RoutingTrace {
        let positions = (0..<100).map { Int32($0 % 5) }
        var experts = positions.map { [Int($0 % 3)] }
        if odd { experts[37] = [(experts[37][0] + 1) % 3] }
        let labels = (0..<100).map { Int32(($0 / 5) % 2) }
        return RoutingTrace(expertCount: 3, tokenCount: 100, labels: labels, positions: positions, classCount: 2,
                            layers: [layer(0, experts), layer(1, experts)],
                            routingGroups: groups ? Array(repeating: 10, count: 10) : nil)
    }

    func testLoadsAlikeInEveryUnitAreExact() throws {
        let options = AnalysisOptions(bootstrapResamples: 50, permutations: 0, seed: 3)
        for (groups, unit) in [(false, "image"), (true, "routing group")] {
            let a = try analyze(trace: trace(groups: groups), options: options)
            for scope in a.layers + [a.overall] {
                for (name, interval, plugIn) in try loadIntervals(scope) {
                    let i = try XCTUnwrap(interval, "\(unit) \(scope.scope) \(name)")
                    XCTAssertEqual(i.fixedBy, "routing alike in every \(unit)", "\(scope.scope) \(name)")
                    XCTAssertEqual(i.estimate, plugIn, "\(unit) \(scope.scope) \(name): the plug-in, uncorrected")
                    XCTAssertEqual(i.lower, i.upper)
                    XCTAssertNil(i.warning)
                }
                // Loads 2, 2, 1 of 5: shares (0.4, 0.4, 0.2), CV = √(Σ(s − 1/3)²/3)/(1/3) = √2/5.
                XCTAssertEqual(try XCTUnwrap(scope.headlineCV), 2.0.squareRoot() / 5, accuracy: 1e-12)
            }
            XCTAssertTrue(formatInterval(a.layers[0].uncertainty?.cv).contains("(fixed by routing alike in every \(unit))"))
        }
    }

    func testOneTokenElsewhereKeepsTheBootstrap() throws {
        let options = AnalysisOptions(bootstrapResamples: 50, permutations: 0, seed: 3)
        for groups in [false, true] {
            let a = try analyze(trace: trace(groups: groups, odd: true), options: options)
            let cv = try XCTUnwrap(a.layers[0].uncertainty?.cv)
            XCTAssertNil(cv.fixedBy, "groups \(groups)")
            XCTAssertEqual(cv.resamples, 50)
            XCTAssertLessThan(cv.lower, cv.upper)
        }
    }
}
