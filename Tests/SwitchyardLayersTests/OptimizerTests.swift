import Synchronization
import XCTest
@testable import SwitchyardLayers
@testable import SwitchyardTensorCore

final class OptimizerTests: XCTestCase {
    func testAdamWStepsMatchAHandComputation() {
        let decayed = Parameter(name: "w", shape: [2], decays: true)
        let plain = Parameter(name: "b", shape: [1], decays: false)
        decayed.value.pointer[0] = 1; decayed.value.pointer[1] = -2
        plain.value.pointer[0] = 0.5
        let adam = AdamW(parameters: [decayed, plain], beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1)
        var w: [Double] = [1, -2], b = 0.5
        var m = [0.0, 0.0, 0.0], v = [0.0, 0.0, 0.0]
        let grads: [[Double]] = [[0.5, -1, 2], [0.1, 0.3, -0.4]]
        let lr = 0.01
        for (step, g) in grads.enumerated() {
            decayed.gradient.pointer[0] = Float(g[0]); decayed.gradient.pointer[1] = Float(g[1])
            plain.gradient.pointer[0] = Float(g[2])
            adam.update(learningRate: Float(lr))
            let t = Double(step + 1)
            for i in 0..<3 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i]
                let update = (m[i] / (1 - pow(0.9, t))) / ((v[i] / (1 - pow(0.99, t))).squareRoot() + 1e-8)
                if i < 2 { w[i] -= lr * (update + 0.1 * w[i]) } else { b -= lr * update }
            }
            XCTAssertEqual(Double(decayed.value.pointer[0]), w[0], accuracy: 1e-6)
            XCTAssertEqual(Double(decayed.value.pointer[1]), w[1], accuracy: 1e-6)
            XCTAssertEqual(Double(plain.value.pointer[0]), b, accuracy: 1e-6)
        }
        XCTAssertEqual(adam.step, 2)
        adam.zeroGradients()
        XCTAssertEqual(decayed.gradient.array, [0, 0])
    }

    func testScheduleWarmsUpLinearlyThenDecaysByCosine() {
        let s = LearningRateSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, floor: 0.1)
        XCTAssertEqual(s.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 4), 0.5, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 60), 0.55, accuracy: 1e-6)   // halfway: floor + (peak − floor)/2
        XCTAssertEqual(s.rate(at: 110), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 500), 0.1, accuracy: 1e-6)
        let noWarmup = LearningRateSchedule(peak: 2, warmupSteps: 0, totalSteps: 4)
        XCTAssertEqual(noWarmup.rate(at: 0), 2, accuracy: 1e-6)
        XCTAssertEqual(noWarmup.rate(at: 2), 1, accuracy: 1e-6)
    }

    func testGlobalNormClipping() {
        let a = Parameter(name: "a", shape: [2], decays: true), b = Parameter(name: "b", shape: [1], decays: true)
        a.gradient.pointer[0] = 3; a.gradient.pointer[1] = 0; b.gradient.pointer[0] = 4
        XCTAssertEqual(GradientClipping.clipGlobalNorm([a, b], maxNorm: 10), 5)
        XCTAssertEqual(a.gradient.array, [3, 0])
        XCTAssertEqual(GradientClipping.clipGlobalNorm([a, b], maxNorm: 1), 5)
        XCTAssertEqual(a.gradient.pointer[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(b.gradient.pointer[0], 0.8, accuracy: 1e-6)
        XCTAssertEqual(GradientClipping.globalNorm([a, b]), 1, accuracy: 1e-6)
    }

    /// Parameters of mixed sizes, empty ones included, with seeded values, gradients and moments.
    func mixedParameters(seed: UInt64) -> [Parameter] {
        var rng = SeededRNG(seed: seed)
        let shapes = [[64, 256], [0], [3], [256, 64], [40_000], [1], [0], [17, 33], [5_000]]
        return shapes.enumerated().map { i, shape in
            let p = Parameter(name: "p\(i)", shape: shape, decays: i % 2 == 0)
            for j in 0..<p.count {
                p.value.pointer[j] = rng.nextGaussian()
                p.gradient.pointer[j] = rng.nextGaussian()
            }
            return p
        }
    }

    func testParameterRangesCoverEveryElementOnceAndEveryParameterOnce() {
        let parameters = mixedParameters(seed: 11)
        let ranges = ParameterRanges(parameters)
        XCTAssertEqual(ranges.total, parameters.map(\.count).reduce(0, +))
        defer { ComputeThreads.count = 1 }
        for threads in [1, 2, 3] {
            ComputeThreads.count = threads
            for minimum in [1, 1_000, 16_384, 1 << 20] {
                let seen = Mutex([[Int]](repeating: [], count: parameters.count))
                let whole = Mutex([Int](repeating: 0, count: parameters.count))
                ranges.forEachPiece(minimumPerPart: minimum) { i, elements in
                    seen.withLock { $0[i] += Array(elements) }
                }
                ranges.forEachParameter(minimumPerPart: minimum) { i in whole.withLock { $0[i] += 1 } }
                seen.withLock { seen in
                    for (i, p) in parameters.enumerated() {
                        XCTAssertEqual(seen[i].sorted(), Array(0..<p.count), "parameter \(i), \(threads) threads, minimum \(minimum)")
                    }
                }
                whole.withLock { whole in
                    for (i, p) in parameters.enumerated() {
                        XCTAssertEqual(whole[i], p.count > 0 ? 1 : 0, "parameter \(i), \(threads) threads, minimum \(minimum)")
                    }
                }
            }
        }
    }

    func testAdamWAndTheGlobalNormGiveTheSameBitsForAnyThreadCount() {
        defer { ComputeThreads.count = 1 }
        var results: [[UInt32]] = []
        var norms: [UInt32] = []
        for threads in [1, 2, 3] {
            ComputeThreads.count = threads
            let parameters = mixedParameters(seed: 12)
            let adam = AdamW(parameters: parameters, weightDecay: 0.05)
            norms.append(GradientClipping.globalNorm(parameters).bitPattern)
            for step in 0..<3 { adam.update(learningRate: 1e-3 * Float(step + 1)) }
            results.append(parameters.flatMap { $0.value.array.map(\.bitPattern) }
                           + adam.firstMoments.flatMap { $0.array.map(\.bitPattern) }
                           + adam.secondMoments.flatMap { $0.array.map(\.bitPattern) })
        }
        XCTAssertEqual(results[1], results[0], "2 threads")
        XCTAssertEqual(results[2], results[0], "3 threads")
        XCTAssertEqual(norms[1], norms[0])
        XCTAssertEqual(norms[2], norms[0])
        // The norm against Double, every gradient squared and summed.
        let parameters = mixedParameters(seed: 12)
        let exact = parameters.flatMap { $0.gradient.array }.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(Double(Float(bitPattern: norms[0])), exact, accuracy: exact * 1e-5)
        // Each element updated once per step: one element checked by hand against AdamW's formula.
        let p = mixedParameters(seed: 12)[4], w0 = Double(p.value.pointer[123]), g = Double(p.gradient.pointer[123])
        let mHat = g, vHat = g * g                                      // step 1: the corrections cancel
        let expected = w0 - 1e-3 * (mHat / (vHat.squareRoot() + 1e-8) + 0.05 * w0)
        ComputeThreads.count = 2
        let single = AdamW(parameters: [p], weightDecay: 0.05)
        single.update(learningRate: 1e-3)
        XCTAssertEqual(Double(p.value.pointer[123]), expected, accuracy: 1e-6)
    }
}
