import XCTest
@testable import SwitchyardTensorCore

final class SeededRNGTests: XCTestCase {
    func testSameSeedSameStreamDifferentSeedDifferentStream() {
        var a = SeededRNG(seed: 7), b = SeededRNG(seed: 7), c = SeededRNG(seed: 8)
        let sa = (0..<100).map { _ in a.next() }
        XCTAssertEqual(sa, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(sa, (0..<100).map { _ in c.next() })
    }

    func testUniformMomentsAndRange() {
        var rng = SeededRNG(seed: 1)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0
        for _ in 0..<n {
            let u = Double(rng.nextFloat())
            XCTAssert(u >= 0 && u < 1)
            sum += u; sumSq += u * u
        }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        XCTAssertEqual(mean, 0.5, accuracy: 0.005)      // sd of the mean ≈ 0.00065
        XCTAssertEqual(variance, 1.0 / 12.0, accuracy: 0.002)
    }

    func testGaussianMoments() {
        var rng = SeededRNG(seed: 2)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0, sum4 = 0.0
        for _ in 0..<n {
            let g = Double(rng.nextGaussian())
            sum += g; sumSq += g * g; sum4 += g * g * g * g
        }
        XCTAssertEqual(sum / Double(n), 0, accuracy: 0.01)
        XCTAssertEqual(sumSq / Double(n), 1, accuracy: 0.015)
        XCTAssertEqual(sum4 / Double(n), 3, accuracy: 0.1)   // normal kurtosis
    }

    func testNextIntIsUnbiasedAcrossBins() {
        var rng = SeededRNG(seed: 3)
        var counts = [Int](repeating: 0, count: 7)
        let n = 70_000
        for _ in 0..<n { counts[rng.nextInt(below: 7)] += 1 }
        // χ² with 6 degrees of freedom; 22.46 is the 0.999 quantile.
        let expected = Double(n) / 7
        let chi2 = counts.reduce(0.0) { $0 + pow(Double($1) - expected, 2) / expected }
        XCTAssertLessThan(chi2, 22.46)
    }

    func testPermutationIsAPermutation() {
        var rng = SeededRNG(seed: 4)
        for n in [0, 1, 2, 10, 1000] {
            let p = rng.permutation(n)
            XCTAssertEqual(p.sorted(), Array(0..<n))
        }
        var r1 = SeededRNG(seed: 5), r2 = SeededRNG(seed: 5)
        XCTAssertEqual(r1.permutation(50), r2.permutation(50))
    }

    func testSavedStateContinuesTheStream() {
        var a = SeededRNG(seed: 9)
        _ = a.nextGaussian()   // leaves a cached Gaussian in the state
        var b = SeededRNG(state: a.state)!
        XCTAssertEqual((0..<10).map { _ in a.nextGaussian() }, (0..<10).map { _ in b.nextGaussian() })
        XCTAssertEqual(a.next(), b.next())
        XCTAssertNil(SeededRNG(state: [0, 0, 0, 0, 0]))
        XCTAssertNil(SeededRNG(state: [1, 2]))
    }
}
