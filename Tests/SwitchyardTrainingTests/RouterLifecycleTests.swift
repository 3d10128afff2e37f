import XCTest
@testable import SwitchyardFileIO
import SwitchyardRouting
import SwitchyardTensorCore
@testable import SwitchyardTraining
import SwitchyardTraces
import SwitchyardVisionTransformer

/// Token t to expert t mod E with weight 1; keeps two states that its after-step hook updates: the
/// number of hook calls and the loads it was told about, summed over steps.
final class LifecycleRouter: Router {
    struct Configuration: RouterConfiguration {
        static let optionHelp: [String: String] = [:]
        func validate(expertCount: Int) throws {}
    }
    static let name = "test-lifecycle"
    static let summary = "A test router with state and an after-step hook."
    let configuration: Configuration, expertCount: Int
    let calls = RouterState(name: "calls", count: 1)
    let loads: RouterState
    var parameters: [Parameter] { [] }
    var state: [RouterState] { [calls, loads] }
    var lastFacts: RoutingStepFacts?
    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        (self.configuration, self.expertCount) = (configuration, expertCount)
        loads = RouterState(name: "loads", count: expertCount)
    }
    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext, rng: inout SeededRNG, plan: RoutingPlan) throws {
        plan.reset(tokenCount: n, expertCount: expertCount)
        var builder = RoutingPlanBuilder()
        builder.fill(plan, tokenCount: n, k: 1, experts: (0..<n).map { Int32($0 % expertCount) },
                     weights: [Float](repeating: 1, count: n))
    }
    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {}
    func afterStep(_ facts: RoutingStepFacts) {
        calls[0] += 1
        for e in 0..<expertCount { loads[e] += Float(facts.layer.tokensPerExpert[e]) }
        lastFacts = facts
    }
}

/// Routes every token of image i to expert label_i mod E: an oracle that needs the labels.
final class OracleRouter: Router {
    struct Configuration: RouterConfiguration {
        static let optionHelp: [String: String] = [:]
        func validate(expertCount: Int) throws {}
    }
    static let name = "test-oracle"
    static let summary = "Routes by label (an oracle baseline for tests)."
    let configuration: Configuration, expertCount: Int
    var parameters: [Parameter] { [] }
    var traits: RouterTraits { RouterTraits(readsLabels: true) }
    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        (self.configuration, self.expertCount) = (configuration, expertCount)
    }
    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext, rng: inout SeededRNG, plan: RoutingPlan) throws {
        guard let labels = context.labels, context.tokensPerImage > 0 else {
            throw RoutingError(router: Self.name, message: "an oracle router needs the labels of its images; none were given")
        }
        plan.reset(tokenCount: n, expertCount: expertCount)
        var builder = RoutingPlanBuilder()
        builder.fill(plan, tokenCount: n, k: 1,
                     experts: (0..<n).map { Int32(Int(labels[context.image(ofToken: $0)]) % expertCount) },
                     weights: [Float](repeating: 1, count: n))
    }
    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {}
}

/// Router state and the after-step hook through real training runs, checkpoints and resume; the
/// oracle's labels; routing-group validation.
final class RouterLifecycleTests: XCTestCase {
    var root: String!
    let registry: RouterRegistry = {
        let r = RouterRegistry()
        r.register(SwitchRouter.self)
        r.register(LifecycleRouter.self)
        r.register(OracleRouter.self)
        return r
    }()

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-lifecycle-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// tiny on 512 training and 64 test images, batch 32: 16 steps an epoch.
    func configuration(router: String, epochs: Int = 1) throws -> TrainingConfiguration {
        var c = try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [
            ("data.trainLimit", "512"), ("data.testLimit", "64"), ("batchSize", "32"), ("epochs", String(epochs)),
            ("threads", "1"), ("logEvery", "4"),
        ])
        c.model.router = router
        return c
    }

    func routers(_ trainer: Trainer) -> [LifecycleRouter] { trainer.model.moeLayers.map { $0.layer.router as! LifecycleRouter } }

    func testHookRunsOncePerTrainingStepWithEveryLayersFactsAndStateIsCheckpointedNotTrained() throws {
        let trainer = try Trainer(configuration: configuration(router: "test-lifecycle", epochs: 2), runDirectory: root + "/a",
                                  quiet: true, registry: registry)
        let summary = try trainer.run()
        let layers = routers(trainer)
        XCTAssertEqual(layers.count, 2)
        for router in layers {
            XCTAssertEqual(router.calls.values, [32], "once per training step of 2 epochs, never at evaluation")
            XCTAssertEqual(router.loads.values, [Float](repeating: 32 * 32 * 17 / 4, count: 4))
            XCTAssertEqual(router.lastFacts?.allLayers.count, 2)
            XCTAssertEqual(router.lastFacts?.step, 31)
        }
        // State is not a parameter: not in the optimiser's list, the counts or the names.
        XCTAssertFalse(trainer.parameters.contains { $0.name.contains("calls") || $0.name.contains("loads") })
        XCTAssertEqual(summary.parameterCount, trainer.parameters.reduce(0) { $0 + $1.count })
        XCTAssertEqual(summary.routerState?["blocks.0.feedForward.router.state.calls"], [32])
        XCTAssertEqual(summary.routerTraits?["router.chooser"], "tokens")
        // The checkpoint holds the state; a new trainer restores it.
        let checkpoint = try Checkpoint.read(root + "/a/checkpoints/epoch-2.ckpt")
        XCTAssertEqual(checkpoint.array(named: "blocks.1.feedForward.router.state.calls"), [32])
        let restored = try Trainer(configuration: configuration(router: "test-lifecycle", epochs: 2), runDirectory: root + "/a",
                                   resume: true, quiet: true, registry: registry)
        XCTAssertEqual(routers(restored)[1].calls.values, [32])
        XCTAssertEqual(routers(restored)[0].loads.values, layers[0].loads.values)
    }

    func testBadStateInACheckpointIsAnErrorNamingTheArrayAndChangesNothing() throws {
        let c = try configuration(router: "test-lifecycle")
        try Trainer(configuration: c, runDirectory: root + "/b", quiet: true, registry: registry).run()
        let path = root + "/b/checkpoints/epoch-1.ckpt"
        let original = try Checkpoint.read(path)
        let name = "blocks.0.feedForward.router.state.loads"
        for (values, expected) in [([Float](repeating: 1, count: 3), "has 3 values; the router's state loads has 4"),
                                   ([1, 2, .infinity, 4], "value 2 is inf; router state must be finite")] {
            var arrays = original.header.arrays.map { original.array(named: $0.name)! }
            var header = original.header
            let i = header.arrays.firstIndex { $0.name == name }!
            arrays[i] = values
            header.arrays[i].count = values.count
            try Checkpoint(header: header, arrays: arrays).write(to: path)
            let trainer = try Trainer(configuration: c, runDirectory: root + "/fresh", quiet: true, registry: registry)
            let before = routers(trainer)[0].loads.values
            XCTAssertThrowsError(try trainer.restore(from: path)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("array \(name)") && text.contains(expected), text)
            }
            XCTAssertEqual(routers(trainer)[0].loads.values, before, "nothing restored on error")
        }
    }

    func testOracleRoutersGetLabelsAndOthersDoNot() throws {
        var c = try configuration(router: "test-oracle").model
        c.depth = 1
        var rng = SeededRNG(seed: 0)
        let model = try VisionTransformerModel(configuration: c, registry: registry, rng: &rng)
        let images = Tensor(shape: [2, 1, 28, 28])
        let labels: [Int32] = [3, 6]
        _ = try model.forward(images: images, labels: labels, batchSize: 2, context: RoutingContext(training: false), rng: &rng)
        let plan = model.moeLayers[0].layer.plan
        XCTAssertEqual(plan.load(ofExpert: 3), 17)
        XCTAssertEqual(plan.load(ofExpert: 2), 17)
        // Called without labels (as a benchmark or a plain route would): a clear error, no trap.
        let router = model.moeLayers[0].layer.router
        XCTAssertThrowsError(try router.route(images.pointer, tokenCount: 4, context: RoutingContext(training: true),
                                              rng: &rng, plan: RoutingPlan())) {
            XCTAssertTrue("\($0)".contains("router test-oracle: an oracle router needs the labels"), "\($0)")
        }
        // A learned router never sees them.
        XCTAssertFalse(try registry.describe(name: "switch", expertCount: 4).traits.readsLabels)
    }

    func testRoutingGroupsMustDivideTheBatch() throws {
        XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [
            ("batchSize", "32"), ("model.routingGroupImages", "5"),
        ])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("model.routingGroupImages") && text.contains("5 is not allowed") && text.contains("divisor of batchSize 32"), text)
        }
        let ok = try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [("batchSize", "32"), ("model.routingGroupImages", "8")])
        XCTAssertEqual(ok.model.routingGroupImages, 8)
        // An existing configuration without the field decodes and encodes as before.
        let encoded = try JSONEncoder().encode(try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: []))
        XCTAssertFalse(String(decoding: encoded, as: UTF8.self).contains("routingGroupImages"))
    }

    func testGroupedRunRecordsItsRoutingGroupsInTheTrace() throws {
        var c = try configuration(router: "switch")
        c.model.routingGroupImages = 8
        try Trainer(configuration: c, runDirectory: root + "/g", quiet: true, registry: registry).run()
        let trace = try RoutingTraceFile.read(root + "/g/traces/epoch-1.sytrace")
        XCTAssertEqual(trace.routingGroups, [Int](repeating: 8 * 17, count: 8))
        // Capacity per group: ⌈2·136/4⌉ = 68 per expert and group at evaluation (cf 2), 8 groups.
        XCTAssertEqual(trace.layers[0].capacity, 8 * 68)
        XCTAssertEqual(trace.metadata["router.chooser"], "tokens")
    }
}

/// The DeepSeekMoE preset is FLOP-matched to fmnist-small and trains.
final class DeepSeekMoEPresetTests: XCTestCase {
    func testPresetMatchesFMNISTSmallsExpertFLOPsAndIsValid() throws {
        let base = try XCTUnwrap(Presets.named("fmnist-small")), ds = try XCTUnwrap(Presets.named("fmnist-small-dsmoe"))
        try ConfigurationResolver.validate(ds)
        let a = ModelFLOPs(configuration: base.model, assignmentsPerToken: [1, 1, 1, 1], routerParameters: [256, 256, 256, 256])
        let b = ModelFLOPs(configuration: ds.model, assignmentsPerToken: [3, 3, 3, 3], routerParameters: [1024, 1024, 1024, 1024])
        XCTAssertEqual(a.experts, b.experts + (b.sharedExperts ?? 0), "routed top-3 of 64 plus one shared of 64 = top-1 of 256")
        XCTAssertEqual(ds.model.routerOptions["k"], "3")
        XCTAssertEqual(try RouterRegistry.shared.describe(name: "deepseek-moe", options: ds.model.routerOptions, expertCount: 16).traits.k, 3)
    }
}
