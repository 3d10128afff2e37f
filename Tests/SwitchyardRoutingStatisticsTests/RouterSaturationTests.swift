import XCTest
import SwitchyardFileIO
@testable import SwitchyardRoutingStatistics
import SwitchyardTraces

/// Router saturation (routers-next B1, OLMoE §5): a hand-computed case and the checks.
final class RouterSaturationTests: XCTestCase {
    func layer(_ block: Int, _ sets: [[Int32]]) -> LayerRouting {
        var offsets: [Int32] = [0]
        for s in sets { offsets.append(offsets.last! + Int32(s.count)) }
        let experts = sets.flatMap { $0 }
        return LayerRouting(layer: block, offsets: offsets, experts: experts, weights: [Float](repeating: 0.5, count: experts.count))
    }

    func testOverlapWithTheFinalExpertsAgainstRandomChoice() throws {
        // Token 0: final {0, 1}, checkpoint {1, 3}: 1 of 2. Token 1: final {2}, checkpoint {2}: 1.
        // Token 2: no final expert, left out. Saturation (0.5 + 1)/2 = 0.75; random (2/4 + 1/4)/2.
        let final = RoutingTrace(expertCount: 4, tokenCount: 3, layers: [layer(5, [[0, 1], [2], []])])
        let checkpoint = RoutingTrace(expertCount: 4, tokenCount: 3, layers: [layer(5, [[1, 3], [2], [0]])])
        let s = try routerSaturation(checkpoint, against: final, label: "step 100")
        XCTAssertEqual(s.layers.map(\.layer), [5])
        XCTAssertEqual(s.layers[0].tokens, 2)
        XCTAssertEqual(try XCTUnwrap(s.layers[0].saturation), 0.75, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.layers[0].baseline), 0.375, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.saturation), 0.75, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(routerSaturation(final, against: final, label: "final").saturation), 1, accuracy: 1e-12)
    }

    func testDifferentTokensOrLayersAreRefused() {
        let final = RoutingTrace(expertCount: 4, tokenCount: 2, layers: [layer(5, [[0], [1]])])
        let fewer = RoutingTrace(expertCount: 4, tokenCount: 1, layers: [layer(5, [[0]])])
        let other = RoutingTrace(expertCount: 4, tokenCount: 2, layers: [layer(6, [[0], [1]])])
        XCTAssertThrowsError(try routerSaturation(fewer, against: final, label: "a", source: "a.csv")) { error in
            XCTAssertTrue("\(error)".contains("a.csv") && "\(error)".contains("token count is 1, but 2"), "\(error)")
        }
        XCTAssertThrowsError(try routerSaturation(other, against: final, label: "b", source: "b.csv")) { error in
            XCTAssertTrue("\(error)".contains("layers is [6], but [5]"), "\(error)")
        }
    }
}
