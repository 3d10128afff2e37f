import XCTest
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

final class RouterRegistryTests: XCTestCase {
    func testEveryBuiltinRouterIsRegisteredAndBuildable() throws {
        let names = RouterRegistry.shared.all.map(\.name)
        XCTAssertEqual(names, ["dense", "random-token", "random-batch", "noisy-top-k", "switch", "expert-choice", "top-2",
                               "loss-free", "top-p", "sinkhorn", "remoe", "top-k", "hash", "deepseek-moe", "base", "xmoe",
                               "soft-moe"])
        for name in names {
            var rng = SeededRNG(seed: 0)
            let router = try RouterRegistry.shared.makeRouter(name: name, modelWidth: 8, expertCount: 4, rng: &rng)
            XCTAssertEqual(router.expertCount, name == "dense" ? 1 : 4)
        }
    }

    func testOptionsOverrideDefaults() throws {
        var rng = SeededRNG(seed: 0)
        let router = try RouterRegistry.shared.makeRouter(
            name: "switch", options: ["trainingCapacityFactor": "1", "batchPrioritized": "yes"],
            modelWidth: 8, expertCount: 4, rng: &rng) as! SwitchRouter
        XCTAssertEqual(router.configuration.trainingCapacityFactor, 1)
        XCTAssertTrue(router.configuration.batchPrioritized)
        XCTAssertEqual(router.configuration.evaluationCapacityFactor, 2)
        let resolved = try RouterRegistry.shared.resolvedOptions(name: "top-2", options: ["secondPolicy": "all"], expertCount: 4)
        XCTAssertEqual(resolved.first { $0.key == "secondPolicy" }?.value, "\"all\"")
    }

    func assertError(_ name: String, _ options: [String: String], experts: Int = 4, mentions: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRNG(seed: 0)
        XCTAssertThrowsError(try RouterRegistry.shared.makeRouter(name: name, options: options, modelWidth: 8,
                                                                  expertCount: experts, rng: &rng), file: file, line: line) { error in
            let text = "\(error)"
            for word in mentions { XCTAssertTrue(text.contains(word), "'\(text)' should mention '\(word)'", file: file, line: line) }
        }
    }

    func testBadValuesNameTheFieldAndValue() {
        assertError("switch", ["trainingCapacityFactor": "-1"], mentions: ["trainingCapacityFactor", "-1", "> 0"])
        assertError("switch", ["trainingCapacityFactor": "fast"], mentions: ["trainingCapacityFactor", "fast"])
        assertError("noisy-top-k", ["k": "5"], mentions: ["k", "5", "1 to E = 4"])
        assertError("top-2", ["secondPolicy": "sometimes"], mentions: ["secondPolicy", "sometimes"])
        assertError("top-2", [:], experts: 1, mentions: ["at least 2"])
        assertError("expert-choice", ["maxExpertsPerToken": "9"], mentions: ["maxExpertsPerToken", "9"])
        assertError("switch", ["capacity": "2"], mentions: ["capacity", "trainingCapacityFactor"])
        assertError("no-such-router", [:], mentions: ["no-such-router", "switch", "expert-choice"])
    }

    func testAUserRouterRegistersWithoutTouchingSwitchyard() throws {
        final class LastExpertRouter: Router {
            struct Configuration: RouterConfiguration {
                var weight: Float = 1
                static let optionHelp = ["weight": "the combine weight"]
                func validate(expertCount: Int) throws {}
            }
            static let name = "last-expert"
            static let summary = "Every token to the last expert."
            let configuration: Configuration
            let expertCount: Int
            var parameters: [Parameter] { [] }
            init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
                self.configuration = configuration
                self.expertCount = expertCount
            }
            func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext, rng: inout SeededRNG, plan: RoutingPlan) {
                plan.reset(tokenCount: n, expertCount: expertCount)
                for t in 0..<n { plan.append(expert: expertCount - 1, token: t, weight: configuration.weight) }
                plan.finish()
            }
            func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                          input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {}
        }
        let registry = RouterRegistry()
        registry.register(LastExpertRouter.self)
        var rng = SeededRNG(seed: 0)
        let router = try registry.makeRouter(name: "last-expert", options: ["weight": "0.5"], modelWidth: 4, expertCount: 3, rng: &rng)
        let plan = RoutingPlan()
        let x = Tensor(shape: [5, 4])
        try! router.route(x.pointer, tokenCount: 5, context: RoutingContext(training: true), rng: &rng, plan: plan)
        XCTAssertEqual(plan.load(ofExpert: 2), 5)
        XCTAssertEqual(plan.weights, [Float](repeating: 0.5, count: 5))
        XCTAssertEqual(registry.entry(named: "last-expert")?.defaults.first?.key, "weight")
    }
}
