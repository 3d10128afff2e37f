import XCTest
@testable import Layers
@testable import TensorCore

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
}
