import Foundation
import SwitchyardTestSupport
import XCTest
@testable import SwitchyardLayers
@testable import SwitchyardRouting
@testable import SwitchyardTensorCore

/// A Soft MoE-like router for the tests (Puigcerver et al. 2023, without its normalisations):
/// per routing group, D = softmax over the group's tokens of X·Φ_D (each slot's column sums to
/// 1) and C = softmax over slots of X·Φ_C (each token's row sums to 1). Separate Φ_D and Φ_C
/// let a gradient check see the dispatch and the combine path each on its own.
final class SoftSlotsTestRouter: Router {
    struct Configuration: RouterConfiguration {
        var slotsPerExpert = 2
        static let optionHelp = ["slotsPerExpert": "slots per expert p"]
        func validate(expertCount: Int) throws {}
    }
    static let name = "soft-slots-test"
    static let summary = "Soft MoE-like slots (tests only)."
    let configuration: Configuration, expertCount: Int, width: Int
    let phiDispatch: Parameter, phiCombine: Parameter
    var parameters: [Parameter] { [phiDispatch, phiCombine] }
    var slots: Int { expertCount * configuration.slotsPerExpert }

    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        (self.configuration, self.expertCount, width) = (configuration, expertCount, modelWidth)
        let s = expertCount * configuration.slotsPerExpert
        phiDispatch = Parameter(name: "phi_dispatch", shape: [modelWidth, s], decays: true)
        phiCombine = Parameter(name: "phi_combine", shape: [modelWidth, s], decays: true)
        rng.fillGaussian(phiDispatch.value.pointer, count: phiDispatch.count, std: 0.5)
        rng.fillGaussian(phiCombine.value.pointer, count: phiCombine.count, std: 0.5)
    }

    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext, rng: inout SeededRNG,
               plan: RoutingPlan) throws {
        plan.reset(tokenCount: n, expertCount: expertCount)
        let soft = plan.makeSoft(slotsPerExpert: configuration.slotsPerExpert, groups: context.groups(tokenCount: n))
        let s = slots, d = soft.dispatch.pointer, c = soft.combine.pointer
        gemm(.none, .none, m: n, n: s, k: width, a: x, lda: width, b: phiDispatch.value.pointer, ldb: s, c: d, ldc: s)
        gemm(.none, .none, m: n, n: s, k: width, a: x, lda: width, b: phiCombine.value.pointer, ldb: s, c: c, ldc: s)
        softmaxRows(c, into: c, rows: n, width: s)
        for r in soft.groups {
            for j in 0..<s {
                let top = r.map { d[$0 * s + j] }.max()!
                var total: Float = 0
                for t in r { d[t * s + j] = exp(d[t * s + j] - top); total += d[t * s + j] }
                for t in r { d[t * s + j] /= total }
            }
        }
        plan.finish()
    }

    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let soft = plan.soft!, n = plan.tokenCount, s = slots
        let d = soft.dispatch.pointer, c = soft.combine.pointer
        let dLogitsD = Tensor(shape: [n, s]), dLogitsC = Tensor(shape: [n, s])
        softmaxRowsBackward(output: c, dOutput: soft.dCombine.pointer, dInput: dLogitsC.pointer, rows: n, width: s)
        let dd = soft.dDispatch.pointer
        for r in soft.groups {
            for j in 0..<s {
                let dot = r.reduce(Float(0)) { $0 + dd[$1 * s + j] * d[$1 * s + j] }
                for t in r { dLogitsD.pointer[t * s + j] = d[t * s + j] * (dd[t * s + j] - dot) }
            }
        }
        for (phi, dLogits) in [(phiDispatch, dLogitsD), (phiCombine, dLogitsC)] {
            gemm(.transposed, .none, m: width, n: s, k: n, a: x, lda: width, b: dLogits.pointer, ldb: s, beta: 1,
                 c: phi.gradient.pointer, ldc: s)
            gemm(.none, .transposed, m: n, n: width, k: s, a: dLogits.pointer, lda: s, b: phi.value.pointer, ldb: s,
                 beta: 1, c: dInput, ldc: width)
        }
    }
}

/// A router whose soft plan is its parameters: D and C are trainable n × S matrices copied into
/// the plan, and dL/dD, dL/dC go straight into their gradients. Checks the layer's dDispatch and
/// dCombine with no router arithmetic in between.
final class FixedSoftTestRouter: Router {
    struct Configuration: RouterConfiguration {
        var slotsPerExpert = 2
        var tokens = 12
        static let optionHelp = ["slotsPerExpert": "slots per expert p", "tokens": "n"]
        func validate(expertCount: Int) throws {}
    }
    static let name = "fixed-soft-test"
    static let summary = "D and C are parameters (tests only)."
    let configuration: Configuration, expertCount: Int
    let dispatch: Parameter, combine: Parameter
    var parameters: [Parameter] { [dispatch, combine] }

    init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        (self.configuration, self.expertCount) = (configuration, expertCount)
        let shape = [configuration.tokens, expertCount * configuration.slotsPerExpert]
        dispatch = Parameter(name: "dispatch", shape: shape, decays: false)
        combine = Parameter(name: "combine", shape: shape, decays: false)
        rng.fillGaussian(dispatch.value.pointer, count: dispatch.count, std: 0.5)
        rng.fillGaussian(combine.value.pointer, count: combine.count, std: 0.5)
    }

    func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext, rng: inout SeededRNG,
               plan: RoutingPlan) throws {
        precondition(n == configuration.tokens)
        plan.reset(tokenCount: n, expertCount: expertCount)
        let soft = plan.makeSoft(slotsPerExpert: configuration.slotsPerExpert, groups: context.groups(tokenCount: n))
        soft.dispatch.pointer.update(from: dispatch.value.pointer, count: dispatch.count)
        soft.combine.pointer.update(from: combine.value.pointer, count: combine.count)
        plan.finish()
    }

    func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                  input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let soft = plan.soft!
        addInPlace(dispatch.gradient.pointer, soft.dDispatch.pointer, count: dispatch.count)
        addInPlace(combine.gradient.pointer, soft.dCombine.pointer, count: combine.count)
    }
}

/// The MoE layer with soft plans: gradients through D, C, the experts and x; the arithmetic
/// against a hand computation; several routing groups; the router's normalisations.
final class SoftDispatchTests: XCTestCase {
    let d = 6, hidden = 8

    func softLayer<R: Router>(_ type: R.Type, _ configuration: R.Configuration, experts: Int = 3, seed: UInt64 = 3) -> MoELayer {
        var rng = SeededRNG(seed: seed)
        let router = R(configuration: configuration, modelWidth: d, expertCount: experts, rng: &rng)
        return MoELayer(name: "mlp", width: d, hidden: hidden, router: router, rng: &rng)
    }

    /// Images of 4 tokens; `imagesPerGroup` 0 = one group.
    func context(imagesPerGroup: Int) -> RoutingContext {
        RoutingContext(training: true, tokensPerImage: 4, imagesPerGroup: imagesPerGroup)
    }

    /// Checks dL/dx and every parameter's gradient of L = Σ c·y (+ nothing else) by central differences.
    func checkGradients(_ moe: MoELayer, tokens n: Int, context: RoutingContext, label: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        var dataRNG = SeededRNG(seed: 4)
        let x = Tensor(shape: [n, d])
        dataRNG.fillGaussian(x.pointer, count: x.count, std: 1.5)
        let c = GradientCheck.randomVector(n * d, rng: &dataRNG)
        func loss() -> Double? {
            var rng = SeededRNG(seed: 5)
            let y = try! moe.forward(x.pointer, tokenCount: n, context: context, rng: &rng)
            return GradientCheck.weightedSum(y, c)
        }
        for p in moe.parameters { p.gradient.zero() }
        _ = loss()
        let dx = Tensor(shape: [n, d])
        moe.backward(dOutput: c, input: x.pointer, dInput: dx.pointer)
        let inputError = GradientCheck.maxRelativeError(values: x.pointer, count: x.count, analytic: dx.array,
                                                        sample: 36, normwise: true, loss: loss)
        XCTAssertLessThan(inputError, 1e-2, "\(label): dL/dx", file: file, line: line)
        for p in moe.parameters {
            let error = GradientCheck.maxRelativeError(values: p.value.pointer, count: p.count, analytic: p.gradient.array,
                                                       sample: 36, normwise: true, loss: loss)
            XCTAssertLessThan(error, 1e-2, "\(label): dL/d\(p.name)", file: file, line: line)
        }
    }

    func testGradientsThroughDispatchAndCombineMatrices() {
        // 12 tokens = 3 images of 4: one group, then three groups (regrouped slot rows).
        for imagesPerGroup in [0, 1] {
            let moe = softLayer(FixedSoftTestRouter.self, .init(slotsPerExpert: 2, tokens: 12))
            checkGradients(moe, tokens: 12, context: context(imagesPerGroup: imagesPerGroup),
                           label: "fixed D, C; imagesPerGroup \(imagesPerGroup)")
        }
    }

    func testGradientsThroughTheSoftmaxSlotsRouter() {
        for (imagesPerGroup, p) in [(0, 1), (0, 2), (1, 2), (2, 3)] {
            let moe = softLayer(SoftSlotsTestRouter.self, .init(slotsPerExpert: p))
            checkGradients(moe, tokens: 16, context: context(imagesPerGroup: imagesPerGroup),
                           label: "softmax slots p \(p); imagesPerGroup \(imagesPerGroup)")
        }
    }

    func testSoftmaxSlotsRouterNormalisesDispatchColumnsPerGroupAndCombineRows() throws {
        let moe = softLayer(SoftSlotsTestRouter.self, .init(slotsPerExpert: 2), experts: 4)
        var rng = SeededRNG(seed: 6)
        let n = 24, x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count, std: 2)
        _ = try moe.forward(x.pointer, tokenCount: n, context: context(imagesPerGroup: 2), rng: &rng)
        let soft = try XCTUnwrap(moe.plan.soft)
        XCTAssertEqual(soft.groups, [0..<8, 8..<16, 16..<24])
        let s = soft.slotCount
        XCTAssertEqual(s, 8)
        for r in soft.groups {
            for j in 0..<s {
                XCTAssertEqual(r.reduce(Float(0)) { $0 + soft.dispatch.pointer[$1 * s + j] }, 1, accuracy: 1e-5)
            }
        }
        for t in 0..<n {
            XCTAssertEqual((0..<s).reduce(Float(0)) { $0 + soft.combine.pointer[t * s + $1] }, 1, accuracy: 1e-5)
        }
        XCTAssertEqual(moe.plan.assignmentCount, 0, "a soft plan has no sparse assignments")
        XCTAssertEqual(moe.expertRowCount, 3 * 8, "the experts ran every slot of every group")
    }

    /// Y_g = C_g·FFN_{e(s)}(D_gᵀ·X_g) slot by slot with plain loops and one-row expert calls.
    func handComputed(_ moe: MoELayer, _ x: Tensor, groups: [Range<Int>], slotsPerExpert p: Int,
                      dispatch D: [Float], combine C: [Float]) -> [Float] {
        let s = moe.experts.count * p
        var y = [Float](repeating: 0, count: x.shape[0] * d)
        let slot = Tensor(shape: [1, d]), out = Tensor(shape: [1, d])
        for r in groups {
            for j in 0..<s {
                for k in 0..<d { slot.pointer[k] = r.reduce(Float(0)) { $0 + D[$1 * s + j] * x.pointer[$1 * d + k] } }
                moe.experts[j / p].forward(slot.pointer, rows: 1, into: out.pointer)
                for t in r { for k in 0..<d { y[t * d + k] += C[t * s + j] * out.pointer[k] } }
            }
        }
        return y
    }

    func testOneGroupEqualsTheHandComputedResultOnATinyExample() throws {
        // 3 tokens of width 6, 2 experts of 1 slot each: D and C written out.
        var rng = SeededRNG(seed: 7)
        let router = FixedSoftTestRouter(configuration: .init(slotsPerExpert: 1, tokens: 3), modelWidth: d, expertCount: 2, rng: &rng)
        let D: [Float] = [0.5, 0.1, 0.25, 0.6, 0.25, 0.3], C: [Float] = [1, 0, 0.3, 0.7, -0.5, 2]
        router.dispatch.value.pointer.update(from: D, count: 6)
        router.combine.value.pointer.update(from: C, count: 6)
        let moe = MoELayer(name: "mlp", width: d, hidden: hidden, router: router, rng: &rng)
        let x = Tensor(shape: [3, d])
        rng.fillGaussian(x.pointer, count: x.count)
        let y = Array(UnsafeBufferPointer(start: try moe.forward(x.pointer, tokenCount: 3, context: RoutingContext(training: true), rng: &rng),
                                          count: 3 * d))
        // Slot inputs by hand: x̃_0 = 0.5·x_0 + 0.25·x_1 + 0.25·x_2, x̃_1 = 0.1·x_0 + 0.6·x_1 + 0.3·x_2.
        let slots = Tensor(shape: [2, d]), outputs = Tensor(shape: [2, d])
        for k in 0..<d {
            let x0 = x.pointer[k], x1 = x.pointer[d + k], x2 = x.pointer[2 * d + k]
            slots.pointer[k] = 0.5 * x0 + 0.25 * x1 + 0.25 * x2
            slots.pointer[d + k] = 0.1 * x0 + 0.6 * x1 + 0.3 * x2
        }
        moe.experts[0].forward(slots.pointer, rows: 1, into: outputs.pointer)
        moe.experts[1].forward(slots.pointer + d, rows: 1, into: outputs.pointer + d)
        for k in 0..<d {
            let o0 = outputs.pointer[k], o1 = outputs.pointer[d + k]
            XCTAssertEqual(y[k], o0, accuracy: 1e-5)                       // C row 0: (1, 0)
            XCTAssertEqual(y[d + k], 0.3 * o0 + 0.7 * o1, accuracy: 1e-5)
            XCTAssertEqual(y[2 * d + k], -0.5 * o0 + 2 * o1, accuracy: 1e-5)
        }
    }

    func testSeveralGroupsEqualTheHandComputedResultPerGroup() throws {
        for (imagesPerGroup, p) in [(1, 2), (2, 1), (3, 3)] {
            let moe = softLayer(SoftSlotsTestRouter.self, .init(slotsPerExpert: p))
            var rng = SeededRNG(seed: 8)
            let n = 20, x = Tensor(shape: [n, d])   // 5 images: the last group shorter when 2 or 3 per group
            rng.fillGaussian(x.pointer, count: x.count)
            let ctx = context(imagesPerGroup: imagesPerGroup)
            let y = Array(UnsafeBufferPointer(start: try moe.forward(x.pointer, tokenCount: n, context: ctx, rng: &rng), count: n * d))
            let soft = try XCTUnwrap(moe.plan.soft)
            XCTAssertEqual(soft.groups, ctx.groups(tokenCount: n))
            let expected = handComputed(moe, x, groups: soft.groups, slotsPerExpert: p,
                                        dispatch: soft.dispatch.array, combine: soft.combine.array)
            for i in 0..<(n * d) { XCTAssertEqual(y[i], expected[i], accuracy: 1e-4, "imagesPerGroup \(imagesPerGroup), p \(p), \(i)") }
        }
    }

    func testGroupsOfOneSoftPlanAreIndependent() throws {
        // Routing the first group alone gives its rows of the two-group result.
        let moe = softLayer(SoftSlotsTestRouter.self, .init(slotsPerExpert: 2))
        var rng = SeededRNG(seed: 9)
        let x = Tensor(shape: [16, d])
        rng.fillGaussian(x.pointer, count: x.count)
        let both = Array(UnsafeBufferPointer(start: try moe.forward(x.pointer, tokenCount: 16, context: context(imagesPerGroup: 2), rng: &rng),
                                             count: 16 * d))
        let first = Array(UnsafeBufferPointer(start: try moe.forward(x.pointer, tokenCount: 8, context: context(imagesPerGroup: 0), rng: &rng),
                                              count: 8 * d))
        for i in 0..<(8 * d) { XCTAssertEqual(both[i], first[i], accuracy: 1e-5) }
    }

    func testSharedExpertsAddToASoftPlan() throws {
        var rng = SeededRNG(seed: 10)
        let router = SoftSlotsTestRouter(configuration: .init(slotsPerExpert: 2), modelWidth: d, expertCount: 3, rng: &rng)
        let moe = MoELayer(name: "mlp", width: d, hidden: hidden, router: router, shared: 1, sharedGate: .sigmoid, rng: &rng)
        checkGradients(moe, tokens: 16, context: context(imagesPerGroup: 2), label: "soft plan + shared expert")
    }

    func testGradientsThroughTheSoftMoERouterInTheLayer() {
        // 16 tokens = 4 images of 4; soft-moe routes image by image whatever the routing group.
        for (imagesPerGroup, p) in [(0, 1), (2, 2)] {
            var configuration = SoftMoERouter.Configuration()
            configuration.slotsPerExpert = p
            let moe = softLayer(SoftMoERouter.self, configuration)
            (moe.router as! SoftMoERouter).scale.value.pointer[0] = 3
            checkGradients(moe, tokens: 16, context: context(imagesPerGroup: imagesPerGroup),
                           label: "soft-moe p \(p); imagesPerGroup \(imagesPerGroup)")
        }
    }

    func testSoftMoEKeepsImagesApart() throws {
        // Image 0's tokens change; images 1 and 2 get the same outputs bit for bit, even in one routing group.
        var configuration = SoftMoERouter.Configuration()
        configuration.slotsPerExpert = 2
        let moe = softLayer(SoftMoERouter.self, configuration)
        var rng = SeededRNG(seed: 6)
        let n = 12, x = Tensor(shape: [n, d])
        rng.fillGaussian(x.pointer, count: x.count, std: 2)
        let before = try moe.forward(x.pointer, tokenCount: n, context: context(imagesPerGroup: 0), rng: &rng)
        let first = Array(UnsafeBufferPointer(start: before, count: n * d))
        XCTAssertEqual(moe.plan.soft?.groups, [0..<4, 4..<8, 8..<12])
        for i in 0..<4 * d { x.pointer[i] *= -1.5 }
        let after = try moe.forward(x.pointer, tokenCount: n, context: context(imagesPerGroup: 0), rng: &rng)
        let second = Array(UnsafeBufferPointer(start: after, count: n * d))
        XCTAssertNotEqual(Array(first[0..<4 * d]), Array(second[0..<4 * d]))
        XCTAssertEqual(Array(first[4 * d ..< n * d]), Array(second[4 * d ..< n * d]))
    }
}
