import SwitchyardTestSupport
import XCTest
@testable import SwitchyardLayers
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore
@testable import SwitchyardVisionTransformer

/// A finite-difference check of a whole tiny ViT with MoE blocks: cross-entropy plus the
/// routers' auxiliary losses, with respect to a sample of every parameter.
final class ModelGradientTests: XCTestCase {
    func testWholeTinyModel() throws {
        for (router, dropout) in [("switch", Float(0)), ("expert-choice", Float(0)), ("dense", Float(0.3))] {
            var configuration = ViTConfiguration()
            configuration.imageSize = 4
            configuration.patchSize = 2
            configuration.width = 8
            configuration.heads = 2
            configuration.depth = 2
            configuration.expertHidden = 6
            configuration.experts = 3
            configuration.classes = 3
            configuration.classifierHidden = 5
            configuration.moeEvery = 1
            configuration.router = router
            configuration.dropout = dropout
            configuration.routerOptions = router == "switch" ? ["trainingCapacityFactor": "2", "balanceLossWeight": "0.1"] : [:]
            var rng = SeededRNG(seed: 12)
            let model = try VisionTransformerModel(configuration: configuration, rng: &rng)
            let images = Tensor(shape: [2, 1, 4, 4])
            rng.fillGaussian(images.pointer, count: images.count)
            let labels: [Int32] = [2, 0]
            let context = RoutingContext(training: true, sharedDraw: 1)
            func signature() -> [Int32] { model.moeLayers.flatMap { $0.layer.plan.tokens + $0.layer.plan.preferredExpert } }
            func loss(_ reference: [Int32]?) -> Double? {
                var routing = SeededRNG(seed: 13)
                let result = try! model.forward(images: images, labels: labels, batchSize: 2, context: context, rng: &routing)
                if let reference, signature() != reference { return nil }
                return Double(result.loss)
            }
            for p in model.parameters { p.gradient.zero() }
            _ = loss(nil)
            let reference = signature()
            model.backward()
            for p in model.parameters {
                let error = GradientCheck.maxRelativeError(values: p.value.pointer, count: p.count, analytic: p.gradient.array, sample: 8, normwise: true) { loss(reference) }
                XCTAssertLessThan(error, 2e-2, "\(router): dL/d\(p.name)")
            }
        }
    }
}
