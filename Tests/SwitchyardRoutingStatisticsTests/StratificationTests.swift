import XCTest
import SwitchyardTraces
@testable import SwitchyardRoutingStatistics

/// The bootstrap's strata: by class (a designed class composition) or over all units (token ids,
/// whose composition is itself random).
final class StratificationTests: XCTestCase {
    func testTheAutomaticRule() {
        XCTAssertFalse(pools(.automatic, unitsPerClass: [100, 100, 0, 80], tokenIDs: false))
        XCTAssertTrue(pools(.automatic, unitsPerClass: [100, 100, 80], tokenIDs: true), "token ids")
        // 21 of 100 units in classes below 5 units: sparse; 20 of 100: not.
        XCTAssertTrue(pools(.automatic, unitsPerClass: [79] + [Int](repeating: 3, count: 7), tokenIDs: false))
        XCTAssertFalse(pools(.automatic, unitsPerClass: [80, 4, 4, 4, 4, 4], tokenIDs: false))
        XCTAssertTrue(pools(.none, unitsPerClass: [100, 100], tokenIDs: false))
        XCTAssertFalse(pools(.byClass, unitsPerClass: [1, 1, 1], tokenIDs: true))
    }

    /// 3,000 tokens, top-1 of 6 with uneven loads, labels 0…299 in token order (ten tokens each).
    /// Over all units, the bootstrap draws the unlabelled trace's draws (the class order is the
    /// token order), so the load intervals are those of the trace without labels, bit for bit;
    /// within each class they are narrower.
    func testUnstratifiedLoadsEqualTheUnlabelledTracesBitForBit() throws {
        var random = TestLCG(state: 17)
        let assignment = (0..<3_000).map { _ in [0, 0, 1, 1, 2, 3, 4, 5][random.next(below: 8)] }
        let labels = (0..<3_000).map { Int32($0 / 10) }
        let labelled = top1Trace(experts: 6, assignment: assignment, labels: labels)
        let unlabelled = top1Trace(experts: 6, assignment: assignment)
        var options = AnalysisOptions(bootstrapResamples: 100, permutations: 0, seed: 4)
        let plain = try analyze(trace: unlabelled, options: options, allowGrouping: false)
        options.stratification = .none
        let pooled = try analyze(trace: labelled, options: options, allowGrouping: false)
        options.stratification = .byClass
        let strata = try analyze(trace: labelled, options: options, allowGrouping: false)
        let (u, p, s) = (try XCTUnwrap(plain.layers[0].uncertainty), try XCTUnwrap(pooled.layers[0].uncertainty),
                         try XCTUnwrap(strata.layers[0].uncertainty))
        XCTAssertEqual(p.cv, u.cv)
        XCTAssertEqual(p.gini, u.gini)
        XCTAssertEqual(p.maxVio, u.maxVio)
        XCTAssertFalse(pooled.resampling.stratifiedByClass)
        XCTAssertTrue(strata.resampling.stratifiedByClass)
        XCTAssertTrue(pooled.summary().contains("not stratified by class"))
        let width = { (i: BootstrapInterval?) in (i?.upper ?? 0) - (i?.lower ?? 0) }
        XCTAssertLessThan(width(s.cv), width(p.cv))
        // The automatic rule keeps these ten-token classes.
        options.stratification = .automatic
        XCTAssertTrue(try analyze(trace: labelled, options: options, allowGrouping: false).resampling.stratifiedByClass)
        // A trace that says its labels are token ids is pooled automatically.
        var sequences = labelled
        sequences.metadata[RoutingTrace.kindKey] = RoutingTrace.Kind.sequences.rawValue
        XCTAssertFalse(try analyze(trace: sequences, options: options, allowGrouping: false).resampling.stratifiedByClass)
    }
}
