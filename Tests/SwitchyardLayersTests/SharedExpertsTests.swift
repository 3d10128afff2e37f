import Foundation
import SwitchyardFileIO
import SwitchyardTestSupport
import XCTest
@testable import SwitchyardLayers
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore
@testable import SwitchyardVisionTransformer

/// Shared experts (DeepSeekMoE, Qwen2-MoE's sigmoid gate) in the MoE layer and the model, their
/// configuration fields, and their FLOPs.
final class SharedExpertsTests: XCTestCase {
    let n = 12, d = 6, hidden = 8

    func layer(router: String, options: [String: String] = [:], shared: Int, sharedHidden: Int? = nil,
               gate: SharedExpertGate = .none, seed: UInt64 = 3) throws -> MoELayer {
        var rng = SeededRNG(seed: seed)
        let r = try RouterRegistry.shared.makeRouter(name: router, options: options, modelWidth: d, expertCount: 4, rng: &rng)
        return MoELayer(name: "mlp", width: d, hidden: hidden, router: r, shared: shared, sharedHidden: sharedHidden,
                        sharedGate: gate, rng: &rng)
    }

    func signature(_ plan: RoutingPlan) -> [Int32] { plan.preferredExpert + plan.tokens + plan.expertOffsets.map(Int32.init) }

    func testGradientsThroughUngatedAndSigmoidGatedSharedExperts() throws {
        let cases: [(String, [String: String], Int, Int?, SharedExpertGate)] = [
            ("switch", ["balanceLossWeight": "0.3"], 1, nil, .none),
            ("switch", ["balanceLossWeight": "0.3"], 2, 5, .sigmoid),
            ("top-2", ["secondPolicy": "all"], 1, 3, .sigmoid),
            ("dense", [:], 1, nil, .sigmoid),
            ("random-batch", [:], 2, nil, .none),
        ]
        for (router, options, count, sharedHidden, gate) in cases {
            let label = "\(router), \(count) shared of \(sharedHidden ?? hidden), gate \(gate)"
            let moe = try layer(router: router, options: options, shared: count, sharedHidden: sharedHidden, gate: gate)
            var dataRNG = SeededRNG(seed: 4)
            let x = Tensor(shape: [n, d])
            dataRNG.fillGaussian(x.pointer, count: x.count, std: 2)
            let c = GradientCheck.randomVector(n * d, rng: &dataRNG)
            func loss(_ reference: [Int32]?) -> Double? {
                var rng = SeededRNG(seed: 5)
                let y = try! moe.forward(x.pointer, tokenCount: n, context: RoutingContext(training: true, sharedDraw: 2), rng: &rng)
                if let reference, signature(moe.plan) != reference { return nil }
                return GradientCheck.weightedSum(y, c) + Double(moe.plan.auxiliaryLoss)
            }
            for p in moe.parameters { p.gradient.zero() }
            _ = loss(nil)
            let reference = signature(moe.plan)
            let dx = Tensor(shape: [n, d])
            moe.backward(dOutput: c, input: x.pointer, dInput: dx.pointer)
            let inputError = GradientCheck.maxRelativeError(values: x.pointer, count: x.count, analytic: dx.array,
                                                            sample: 36, normwise: true) { loss(reference) }
            XCTAssertLessThan(inputError, 1e-2, "\(label): dL/dx")
            let shared = try XCTUnwrap(moe.shared)
            XCTAssertEqual(shared.experts.count, count)
            XCTAssertEqual(shared.gates.count, gate == .sigmoid ? count : 0)
            for p in moe.parameters {
                let error = GradientCheck.maxRelativeError(values: p.value.pointer, count: p.count, analytic: p.gradient.array,
                                                           normwise: true) { loss(reference) }
                XCTAssertLessThan(error, 1e-2, "\(label): dL/d\(p.name)")
            }
        }
    }

    func testSharedExpertsAddGatedFFNOutputsBesideAnUnchangedRoutedPart() throws {
        for gate in SharedExpertGate.allCases {
            // Same seed: the routed experts and the router are initialised first, identically.
            let plain = try layer(router: "top-2", options: ["secondPolicy": "all"], shared: 0)
            let withShared = try layer(router: "top-2", options: ["secondPolicy": "all"], shared: 2, sharedHidden: 5, gate: gate)
            XCTAssertNil(plain.shared)
            for (a, b) in zip(plain.parameters, withShared.parameters) {
                XCTAssertEqual(a.name, b.name)
                XCTAssertEqual(a.value.array, b.value.array)
            }
            var rng = SeededRNG(seed: 6)
            let x = Tensor(shape: [n, d])
            rng.fillGaussian(x.pointer, count: x.count)
            var r1 = SeededRNG(seed: 7), r2 = SeededRNG(seed: 7)
            let y0 = Array(UnsafeBufferPointer(start: try plain.forward(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &r1), count: n * d))
            let y1 = Array(UnsafeBufferPointer(start: try withShared.forward(x.pointer, tokenCount: n, context: RoutingContext(training: true), rng: &r2), count: n * d))
            XCTAssertEqual(signature(plain.plan), signature(withShared.plan), "shared experts are not routed")
            XCTAssertEqual(withShared.plan.assignmentCount, plain.plan.assignmentCount)
            let shared = try XCTUnwrap(withShared.shared)
            var expected = y0
            let out = Tensor(shape: [1, d])
            for t in 0..<n {
                for (s, ffn) in shared.experts.enumerated() {
                    ffn.forward(x.pointer + t * d, rows: 1, into: out.pointer)
                    var g: Float = 1
                    if gate == .sigmoid {
                        let z = (0..<d).reduce(Float(0)) { $0 + x.pointer[t * d + $1] * shared.gates[s].value.pointer[$1] }
                        g = 1 / (1 + exp(-z))
                    }
                    for k in 0..<d { expected[t * d + k] += g * out.pointer[k] }
                }
            }
            for i in 0..<(n * d) { XCTAssertEqual(y1[i], expected[i], accuracy: 1e-5, "gate \(gate), \(i)") }
            // Names and counts: <layer>.shared.<s>.fc1.weight …, <layer>.shared.<s>.gate.
            let names = shared.parameters.map(\.name)
            XCTAssertEqual(names.prefix(5), gate == .sigmoid
                ? ["mlp.shared.0.fc1.weight", "mlp.shared.0.fc1.bias", "mlp.shared.0.fc2.weight", "mlp.shared.0.fc2.bias", "mlp.shared.0.gate"]
                : ["mlp.shared.0.fc1.weight", "mlp.shared.0.fc1.bias", "mlp.shared.0.fc2.weight", "mlp.shared.0.fc2.bias", "mlp.shared.1.fc1.weight"])
            let perExpert = 2 * d * 5 + 5 + d + (gate == .sigmoid ? d : 0)
            XCTAssertEqual(withShared.parameterCount - plain.parameterCount, 2 * perExpert)
            XCTAssertEqual(withShared.evaluationParameterCount - plain.evaluationParameterCount, 2 * perExpert)
        }
    }

    func testSharedExpertsRunAtEvaluationWithAnExpertMerge() throws {
        let plain = try layer(router: "random-batch", shared: 0)
        let withShared = try layer(router: "random-batch", shared: 1, gate: .none)
        var rng = SeededRNG(seed: 11)
        let x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count)
        let y0 = Array(UnsafeBufferPointer(start: try plain.forward(x.pointer, tokenCount: n, context: RoutingContext(training: false), rng: &rng), count: n * d))
        let y1 = Array(UnsafeBufferPointer(start: try withShared.forward(x.pointer, tokenCount: n, context: RoutingContext(training: false), rng: &rng), count: n * d))
        let out = Tensor(shape: [n, d])
        try XCTUnwrap(withShared.shared).experts[0].forward(x.pointer, rows: n, into: out.pointer)
        for i in 0..<(n * d) { XCTAssertEqual(y1[i], y0[i] + out.pointer[i], accuracy: 1e-5) }
        XCTAssertEqual(withShared.evaluationParameterCount - plain.evaluationParameterCount, try XCTUnwrap(withShared.shared).parameterCount)
    }

    // MARK: configuration and model

    func testConfigurationWithoutSharedExpertsEncodesAndDecodesAsBefore() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(ViTConfiguration()), as: UTF8.self)
        XCTAssertFalse(json.contains("shared"), json)
        // A configuration written before the fields existed still decodes, with none.
        let old = """
        {"imageChannels":1,"imageSize":28,"patchSize":4,"width":64,"heads":4,"depth":4,"expertHidden":256,"experts":4,
         "moeEvery":1,"router":"switch","routerOptions":{},"classes":10,"classifierHidden":0,"dropout":0}
        """
        let decoded = try JSONDecoder().decode(ViTConfiguration.self, from: Data(old.utf8))
        XCTAssertEqual(decoded, ViTConfiguration())
        XCTAssertEqual(decoded.sharedExpertCount, 0)
        var c = ViTConfiguration()
        c.sharedExperts = 2
        c.sharedExpertGate = "sigmoid"
        let round = try JSONDecoder().decode(ViTConfiguration.self, from: encoder.encode(c))
        XCTAssertEqual(round, c)
        XCTAssertEqual(round.sharedExpertWidth, 256, "defaults to expertHidden")
        XCTAssertEqual(round.sharedExpertGateKind, .sigmoid)
    }

    func testBadSharedExpertFieldsAreInputErrorsNamingTheField() {
        func error(_ change: (inout ViTConfiguration) -> Void) -> InputError? {
            var c = ViTConfiguration()
            change(&c)
            do { try c.validate(); return nil } catch { return error as? InputError }
        }
        XCTAssertNil(error { $0.sharedExperts = 0 })
        XCTAssertNil(error { $0.sharedExperts = 2; $0.sharedExpertHidden = 64; $0.sharedExpertGate = "none" })
        let count = error { $0.sharedExperts = -1 }
        XCTAssertEqual(count?.location, "model.sharedExperts")
        XCTAssertEqual(count?.description, "model.sharedExperts: -1 is not allowed; expected 0 (none) to 64")
        XCTAssertEqual(error { $0.sharedExperts = 1; $0.sharedExpertHidden = 0 }?.location, "model.sharedExpertHidden")
        let gate = error { $0.sharedExperts = 1; $0.sharedExpertGate = "relu" }
        XCTAssertEqual(gate?.location, "model.sharedExpertGate")
        XCTAssertEqual(gate?.message, "'relu' is not allowed; expected 'none' or 'sigmoid'")
    }

    func small(router: String = "switch", experts: Int = 4, hidden: Int = 16) -> ViTConfiguration {
        var c = ViTConfiguration()
        c.imageSize = 8
        c.patchSize = 4
        c.width = 8
        c.heads = 2
        c.depth = 4
        c.moeEvery = 2
        c.expertHidden = hidden
        c.experts = experts
        c.router = router
        return c
    }

    func testModelPutsSharedExpertsInMoEBlocksOnlyAndCountsThem() throws {
        var c = small()
        var rng = SeededRNG(seed: 1)
        let plain = try VisionTransformerModel(configuration: c, rng: &rng)
        c.sharedExperts = 2
        c.sharedExpertHidden = 12
        c.sharedExpertGate = "sigmoid"
        rng = SeededRNG(seed: 1)
        let model = try VisionTransformerModel(configuration: c, rng: &rng)
        XCTAssertEqual(model.blocks.map { $0.feedForward.shared?.experts.count ?? 0 }, [0, 2, 0, 2])
        let perExpert = 2 * 8 * 12 + 12 + 8 + 8
        XCTAssertEqual(model.parameterCount - plain.parameterCount, 2 * 2 * perExpert)
        let names = Set(model.parameters.map(\.name))
        XCTAssertEqual(names.count, model.parameters.count, "names are unique")
        XCTAssertTrue(names.contains("blocks.1.mlp.shared.1.gate"))
        XCTAssertTrue(names.contains("blocks.3.mlp.shared.0.fc2.weight"))
        XCTAssertFalse(names.contains { $0.hasPrefix("blocks.0.mlp.shared") })
        // Training and evaluation forwards; routing and plans see only the routed experts.
        let images = Tensor(shape: [3, 1, 8, 8])
        rng.fillGaussian(images.pointer, count: images.count)
        let labels: [Int32] = [0, 1, 2]
        for training in [true, false] {
            let result = try model.forward(images: images, labels: labels, batchSize: 3,
                                           context: RoutingContext(training: training), rng: &rng)
            XCTAssertTrue(result.loss.isFinite)
            for (_, layer) in model.moeLayers {
                XCTAssertEqual(layer.plan.expertCount, 4)
                XCTAssertLessThanOrEqual(layer.plan.assignmentCount, 3 * 5)
            }
        }
    }

    func testModelFLOPsCountSharedExpertsAndTheirGates() throws {
        var c = small()
        let plainFLOPs = ModelFLOPs(configuration: c, assignmentsPerToken: [1, 1, 1, 1], routerParameters: [0, 32, 0, 32])
        XCTAssertNil(plainFLOPs.sharedExperts)
        let encoded = String(decoding: try JSONEncoder().encode(plainFLOPs), as: UTF8.self)
        XCTAssertFalse(encoded.contains("shared"), "a count without shared experts encodes as before")
        c.sharedExperts = 3
        c.sharedExpertHidden = 10
        let t = 5.0, d = 8.0
        let ungated = ModelFLOPs(configuration: c, assignmentsPerToken: [1, 1, 1, 1], routerParameters: [0, 32, 0, 32])
        XCTAssertEqual(ungated.sharedExperts, 2 * 3 * t * 4 * d * 10)   // 2 MoE blocks (moeEvery 2)
        XCTAssertEqual(ungated.forward - plainFLOPs.forward, 2 * 3 * t * 4 * d * 10)
        c.sharedExpertGate = "sigmoid"
        let gated = ModelFLOPs(configuration: c, assignmentsPerToken: [1, 1, 1, 1], routerParameters: [0, 32, 0, 32])
        XCTAssertEqual(gated.sharedExperts, 2 * 3 * (t * 4 * d * 10 + 2 * t * d))
        XCTAssertEqual(gated.training, ModelFLOPs.trainingMultiplier * gated.forward)
        XCTAssertEqual(try JSONDecoder().decode(ModelFLOPs.self, from: JSONEncoder().encode(gated)), gated)
    }

    /// Fine-grained experts (DeepSeekMoE): m·E experts of hidden h/m with top m·k cost the experts'
    /// FLOPs of E experts of hidden h with top k; only the router grows (d·m·E weights).
    func testFineGrainedExpertsMatchTheExpertFLOPsOfTheCoarseModel() throws {
        let base = ViTConfiguration()   // fmnist-small: E = 4 experts of h = 256, width 64, 50 tokens
        XCTAssertEqual([base.experts, base.expertHidden, base.width, base.tokensPerImage], [4, 256, 64, 50])
        let images = Tensor(shape: [8, 1, 28, 28])
        var dataRNG = SeededRNG(seed: 2)
        dataRNG.fillGaussian(images.pointer, count: images.count)
        let labels = [Int32](repeating: 3, count: 8)
        func measured(experts: Int, hidden: Int, k: Int, shared: Int? = nil) throws -> (ModelFLOPs, parameters: Int) {
            var c = base
            c.experts = experts
            c.expertHidden = hidden
            c.sharedExperts = shared
            c.router = "noisy-top-k"   // no capacity: exactly k assignments per token
            c.routerOptions = ["k": String(k), "noise": "false"]
            var rng = SeededRNG(seed: 0)
            let model = try VisionTransformerModel(configuration: c, rng: &rng)
            _ = try model.forward(images: images, labels: labels, batchSize: 8, context: RoutingContext(training: true), rng: &rng)
            let rows = model.blocks.map { Double($0.feedForward.expertRowCount) / Double($0.feedForward.plan.tokenCount) }
            XCTAssertEqual(rows, [Double](repeating: Double(k), count: 4))
            return (ModelFLOPs(model: model, assignmentsPerToken: rows), model.parameterCount)
        }
        let (coarse, coarseParameters) = try measured(experts: 4, hidden: 256, k: 1)
        for m in [2, 4] {
            let (fine, fineParameters) = try measured(experts: 4 * m, hidden: 256 / m, k: m)
            XCTAssertEqual(fine.experts, coarse.experts, "m = \(m): expert FLOPs match exactly")
            XCTAssertEqual(fine.experts, 4 * 50 * 4 * 64 * 256)   // 13.1 MFLOP per image
            // The gate is d × E (noisy-top-k also has a noise gate of the same size).
            XCTAssertEqual(fine.routers - coarse.routers, 4 * 2 * 50 * Double(2 * 64 * 4 * (m - 1)))
            // Everything else is the same model: the forward totals differ by the routers alone.
            XCTAssertEqual(fine.forward - fine.routers, coarse.forward - coarse.routers, "m = \(m)")
            XCTAssertEqual(coarse.forward, 22_527_232)   // docs/architecture.md's worked example
            // Weights: 2·d·h per expert either way; the biases (h + d per expert) and the gates differ.
            let biasDifference = 4 * (4 * m * (256 / m + 64) - 4 * (256 + 64))
            XCTAssertEqual(fineParameters - coarseParameters, biasDifference + 4 * 2 * 64 * 4 * (m - 1))
            XCTAssertEqual(fine.forward, m == 2 ? 22_732_032 : 23_141_632)   // the docs' table
        }
        // DeepSeekMoE's setting: m·k − 1 routed experts and one shared expert of hidden h/m.
        let (withShared, _) = try measured(experts: 16, hidden: 64, k: 3, shared: 1)
        XCTAssertEqual(withShared.experts, 9_830_400)
        XCTAssertEqual(withShared.sharedExperts, 3_276_800)
        XCTAssertEqual(withShared.experts + withShared.sharedExperts!, coarse.experts)
        XCTAssertEqual(withShared.forward, 23_141_632)
    }
}
