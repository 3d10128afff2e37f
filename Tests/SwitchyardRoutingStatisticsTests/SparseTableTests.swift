import XCTest
@testable import SwitchyardRoutingStatistics

/// Cochran's rule withholds the MI and V intervals of sparse class × expert tables (token-id
/// labels), and only those.
final class SparseTableTests: XCTestCase {
    func testShareOfExpectedCountsBelowFive() {
        // Rows 10 and 30, columns 20 and 20 of 40: expected counts 5, 5, 15, 15.
        XCTAssertEqual(SparseTable.shareBelowFive([4, 6, 16, 14], rows: 2, columns: 2), 0)
        // Rows 2 and 38: expected 1, 1, 19, 19: half below 5. An empty row and column are left out.
        XCTAssertEqual(SparseTable.shareBelowFive([1, 1, 0, 19, 19, 0, 0, 0, 0], rows: 3, columns: 3), 0.5)
        XCTAssertEqual(SparseTable.shareBelowFive([0, 0, 0, 0], rows: 2, columns: 2), 0)
    }

    /// 2,000 tokens routed by class to 4 experts (with noise): with 4 classes the table is
    /// dense and the intervals are shown; relabelled with 500 token-id-like classes of about
    /// 4 tokens each, the same routing's intervals are withheld.
    func testTokenIdLabelsGetNoIntervalDenseLabelsDo() throws {
        var random = TestLCG(state: 11)
        let n = 2_000
        let classes4 = (0..<n).map { _ in Int32(random.next(below: 4)) }
        let assignment = classes4.map { random.next(below: 10) < 7 ? Int($0) : random.next(below: 4) }
        let options = AnalysisOptions(bootstrapResamples: 50, permutations: 19, seed: 5)
        let dense = try analyze(trace: top1Trace(experts: 4, assignment: assignment, labels: classes4), options: options)
        let denseU = try XCTUnwrap(dense.layers[0].uncertainty?.mutualInformationBits)
        XCTAssertNil(denseU.sparseTableShare)
        XCTAssertNil(denseU.withheldLabel)

        let tokenIds = classes4.enumerated().map { Int32($0.offset % 125) * 4 + $0.element }  // 500 classes
        let sparse = try analyze(trace: top1Trace(experts: 4, assignment: assignment, labels: tokenIds), options: options)
        for u in [sparse.layers[0].uncertainty, sparse.overall.uncertainty] {
            let mi = try XCTUnwrap(u?.mutualInformationBits), v = try XCTUnwrap(u?.cramersV)
            XCTAssertEqual(try XCTUnwrap(mi.sparseTableShare), 1, accuracy: 1e-12, "expected counts of about 1 everywhere")
            XCTAssertEqual(v.sparseTableShare, mi.sparseTableShare)
            XCTAssertNil(mi.warning)
            XCTAssertEqual(mi.withheldLabel, "(no interval: sparse table, 100% of expected counts below 5)")
        }
        XCTAssertTrue(formatInterval(sparse.layers[0].uncertainty?.mutualInformationBits).contains("no interval: sparse table"))
        // Every scope's table is sparse, so MI and V are not bootstrapped: the estimates are
        // Miller–Madow's and Bergsma's, as without a bootstrap.
        for scope in [sparse.layers[0], sparse.overall] {
            let mi = try XCTUnwrap(scope.uncertainty?.mutualInformationBits), v = try XCTUnwrap(scope.uncertainty?.cramersV)
            XCTAssertEqual(mi.method, "withheld")
            XCTAssertEqual(mi.resamples, 0)
            XCTAssertEqual(mi.estimate, max(0, try XCTUnwrap(scope.affinity.mutualInformationCorrectedBits)))
            XCTAssertEqual(mi.plugIn, scope.affinity.mutualInformationBits)
            XCTAssertEqual(v.method, "withheld")
            XCTAssertEqual(try XCTUnwrap(v.estimate), try XCTUnwrap(scope.affinity.cramersVCorrected), accuracy: 1e-15)
            XCTAssertEqual(scope.headlineMutualInformationBits, mi.estimate)
        }
        XCTAssertEqual(dense.layers[0].uncertainty?.mutualInformationBits?.resamples, 50)
        XCTAssertNil(sparse.layers[0].uncertainty?.cv?.sparseTableShare, "load intervals are not affected")
    }
}
