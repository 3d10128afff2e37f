import SwitchyardTraces
import XCTest
@testable import SwitchyardRoutingStatistics

/// A layer from one list of experts per token (weights decreasing in list order, so the
/// first expert listed is the token's top-1).
func layer(_ number: Int, _ assignments: [[Int]], preferred: [Int32]? = nil, capacity: Int? = nil,
           topProbability: [Float]? = nil, routerEntropy: [Float]? = nil,
           probabilities: [Float]? = nil) -> LayerRouting {
    var offsets: [Int32] = [0], experts: [Int32] = [], weights: [Float] = []
    for list in assignments {
        for (i, e) in list.enumerated() {
            experts.append(Int32(e))
            weights.append(1 / Float(i + 1))
        }
        offsets.append(Int32(experts.count))
    }
    return LayerRouting(layer: number, offsets: offsets, experts: experts, weights: weights,
                        topProbability: topProbability, routerEntropy: routerEntropy,
                        probabilities: probabilities, preferredExpert: preferred, capacity: capacity)
}

/// A trace whose layers are given as expert lists per token.
func trace(experts: Int, labels: [Int32]? = nil, positions: [Int32]? = nil, classCount: Int = 0,
           classNames: [String] = [], layers: [[[Int]]]) -> RoutingTrace {
    RoutingTrace(expertCount: experts, tokenCount: layers[0].count, labels: labels, positions: positions,
                 classCount: classCount, classNames: classNames,
                 layers: layers.enumerated().map { layer($0.offset, $0.element) })
}

/// Top-1 routing with a fixed token → expert map, repeated over layers.
func top1Trace(experts: Int, assignment: [Int], labels: [Int32]? = nil, layerCount: Int = 1) -> RoutingTrace {
    trace(experts: experts, labels: labels, classCount: labels == nil ? 0 : Int(labels!.max()!) + 1,
          layers: [[[Int]]](repeating: assignment.map { [$0] }, count: layerCount))
}

/// Tokens drawn from a tiny LCG so test data need no generator from another module.
struct TestLCG {
    var state: UInt64
    mutating func next(below n: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(n))
    }
}

/// Uniform doubles in [0, 1) for simulated traces: a 64-bit linear congruential stream (Knuth's
/// MMIX constants) started from `seed` and a per-test `stream`.
struct SimulationStream {
    var state: UInt64
    init(seed: Int, stream: UInt64) { state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ stream }
    mutating func next() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
}

/// The load statistics of `scope` that the fixed-load rules cover, each with its interval and
/// its plug-in value.
func loadIntervals(_ scope: LayerAnalysis) throws -> [(name: String, interval: BootstrapInterval?, plugIn: Double?)] {
    let u = try XCTUnwrap(scope.uncertainty, scope.scope)
    return [("cv", u.cv, scope.load.cv), ("gini", u.gini, scope.load.gini), ("maxVio", u.maxVio, scope.load.maxVio),
            ("meanExpertsPerToken", u.meanExpertsPerToken, scope.heterogeneity.meanExpertsPerToken)]
}
