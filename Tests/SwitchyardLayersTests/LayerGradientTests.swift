import SwitchyardTestSupport
import XCTest
@testable import SwitchyardLayers
@testable import SwitchyardTensorCore

/// Finite-difference checks of every layer's backward: L = Σ c ⊙ output.
final class LayerGradientTests: XCTestCase {
    var rng = SeededRNG(seed: 31)
    let tolerance = 2e-2

    func input(_ shape: [Int], scale: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        rng.fillGaussian(t.pointer, count: t.count, std: scale)
        return t
    }

    /// Checks dL/d(input) (when given) and every parameter.
    func check(_ name: String, parameters: [Parameter], input x: Tensor?, dInput: Tensor?,
               loss: () -> Double, backward: () -> Void, file: StaticString = #filePath, line: UInt = #line) {
        for p in parameters { p.gradient.zero() }
        _ = loss()
        backward()
        if let x, let dInput {
            let error = GradientCheck.maxRelativeError(values: x.pointer, count: x.count, analytic: dInput.array, loss: loss)
            XCTAssertLessThan(error, tolerance, "\(name): dL/dinput", file: file, line: line)
        }
        for p in parameters {
            let error = GradientCheck.maxRelativeError(values: p.value.pointer, count: p.count, analytic: p.gradient.array, loss: loss)
            XCTAssertLessThan(error, tolerance, "\(name): dL/d\(p.name)", file: file, line: line)
        }
    }

    func testLinear() {
        for bias in [true, false] {
            let layer = Linear(name: "fc", inputWidth: 5, outputWidth: 3, bias: bias, rng: &rng)
            let x = input([4, 5]), dx = Tensor(shape: [4, 5])
            let c = GradientCheck.randomVector(12, rng: &rng)
            check("Linear", parameters: layer.parameters, input: x, dInput: dx,
                  loss: { GradientCheck.weightedSum(layer.forward(x.pointer, rows: 4), c) },
                  backward: { layer.backward(dOutput: c, dInput: dx.pointer) })
        }
    }

    func testFeedForward() {
        let ffn = FeedForward(name: "ffn", width: 4, hidden: 6, rng: &rng)
        let x = input([5, 4]), dx = Tensor(shape: [5, 4]), y = Tensor(shape: [5, 4])
        let c = GradientCheck.randomVector(20, rng: &rng)
        check("FeedForward", parameters: ffn.parameters, input: x, dInput: dx,
              loss: { ffn.forward(x.pointer, rows: 5, into: y.pointer); return GradientCheck.weightedSum(y.pointer, c) },
              backward: { ffn.backward(dOutput: c, input: x.pointer, rows: 5, dInput: dx.pointer) })
    }

    func testLayerNorm() {
        let norm = LayerNormLayer(name: "ln", width: 6)
        rng.fillGaussian(norm.gamma.value.pointer, count: 6, mean: 1, std: 0.3)
        rng.fillGaussian(norm.beta.value.pointer, count: 6, std: 0.3)
        let x = input([3, 6], scale: 2), dx = Tensor(shape: [3, 6])
        let c = GradientCheck.randomVector(18, rng: &rng)
        check("LayerNorm", parameters: norm.parameters, input: x, dInput: dx,
              loss: { GradientCheck.weightedSum(norm.forward(x.pointer, rows: 3), c) },
              backward: { norm.backward(dOutput: c, input: x.pointer, rows: 3, dInput: dx.pointer) })
    }

    func testMultiHeadAttention() {
        let attention = MultiHeadAttention(name: "attn", width: 8, heads: 2, rng: &rng)
        let x = input([2 * 5, 8]), dx = Tensor(shape: [10, 8])
        let c = GradientCheck.randomVector(80, rng: &rng)
        check("MultiHeadAttention", parameters: attention.parameters, input: x, dInput: dx,
              loss: { GradientCheck.weightedSum(attention.forward(x.pointer, batch: 2, tokens: 5), c) },
              backward: { attention.backward(dOutput: c, batch: 2, tokens: 5, dInput: dx.pointer) })
    }

    func testAttentionKernelAgainstNaiveReference() {
        let batch = 2, t = 3, d = 4, heads = 2, dh = 2
        let qkv = input([batch * t, 3 * d])
        let out = Tensor(shape: [batch * t, d]), p = Tensor(shape: [batch * heads * t * t])
        attentionForward(qkv: qkv.pointer, output: out.pointer, probabilities: p.pointer, batch: batch, tokens: t, width: d, heads: heads)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<t {
                    var scores = [Double](repeating: 0, count: t)
                    for j in 0..<t {
                        for k in 0..<dh {
                            scores[j] += Double(qkv[b * t + i, h * dh + k]) * Double(qkv[b * t + j, d + h * dh + k])
                        }
                        scores[j] /= Double(dh).squareRoot()
                    }
                    let m = scores.max()!
                    let z = scores.reduce(0) { $0 + exp($1 - m) }
                    for k in 0..<dh {
                        var o = 0.0
                        for j in 0..<t { o += exp(scores[j] - m) / z * Double(qkv[b * t + j, 2 * d + h * dh + k]) }
                        XCTAssertEqual(Double(out[b * t + i, h * dh + k]), o, accuracy: 1e-5)
                    }
                }
            }
        }
    }

    func testPatchEmbedding() {
        let embedding = PatchEmbedding(name: "embed", imageChannels: 2, imageSize: 4, patchSize: 2, width: 3, rng: &rng)
        XCTAssertEqual(embedding.tokensPerImage, 5)
        let images = input([2, 2, 4, 4])
        let c = GradientCheck.randomVector(2 * 5 * 3, rng: &rng)
        check("PatchEmbedding", parameters: embedding.parameters, input: nil, dInput: nil,
              loss: { GradientCheck.weightedSum(embedding.forward(images: images, batch: 2), c) },
              backward: { embedding.backward(dOutput: c, batch: 2) })
        // Patch layout: patch (py, px) of image b, channel-major inside the patch.
        let w = embedding.projection.weight.value, bias = embedding.projection.bias!.value
        let out = embedding.forward(images: images, batch: 2)
        let pos = embedding.positions.value
        for j in 0..<3 {
            // Image 1, patch (1, 0) = token 1 + 2 = 3.
            var expected = bias[j] + pos[3, j]
            for ch in 0..<2 { for i in 0..<2 { for k in 0..<2 {
                expected += w[j, ch * 4 + i * 2 + k] * images[1, ch, 2 + i, k]
            } } }
            XCTAssertEqual(out[(1 * 5 + 3) * 3 + j], expected, accuracy: 1e-5)
            XCTAssertEqual(out[(1 * 5) * 3 + j], embedding.cls.value[j] + pos[0, j], accuracy: 1e-6)
        }
    }

    func testCrossEntropy() {
        let loss = CrossEntropy()
        let logits = input([4, 5], scale: 2)
        let labels: [Int32] = [0, 3, 4, 1]
        let (value, _) = loss.forward(logits: logits.pointer, labels: labels, batch: 4, classes: 5)
        var expected = 0.0
        for b in 0..<4 {
            let row = (0..<5).map { Double(logits[b, $0]) }
            let lse = log(row.map { exp($0) }.reduce(0, +))
            expected += lse - row[Int(labels[b])]
        }
        XCTAssertEqual(Double(value), expected / 4, accuracy: 1e-5)
        _ = loss.forward(logits: logits.pointer, labels: labels, batch: 4, classes: 5)
        let analytic = Array(UnsafeBufferPointer(start: loss.backward(), count: 20))
        let error = GradientCheck.maxRelativeError(values: logits.pointer, count: 20, analytic: analytic) {
            Double(loss.forward(logits: logits.pointer, labels: labels, batch: 4, classes: 5).loss)
        }
        XCTAssertLessThan(error, tolerance)
    }

    func testClassifierHeadWithHiddenLayer() {
        let head = ClassifierHead(name: "head", width: 4, hidden: 5, classes: 3, rng: &rng)
        let tokens = input([2 * 3, 4])
        let c = GradientCheck.randomVector(6, rng: &rng)
        var dTokens: [Float] = []
        check("ClassifierHead", parameters: head.parameters, input: nil, dInput: nil,
              loss: { GradientCheck.weightedSum(head.forward(tokens: tokens.pointer, batch: 2, tokensPerImage: 3), c) },
              backward: { dTokens = Array(UnsafeBufferPointer(start: head.backward(dLogits: c, batch: 2, tokensPerImage: 3), count: 24)) })
        let error = GradientCheck.maxRelativeError(values: tokens.pointer, count: 24, analytic: dTokens) {
            GradientCheck.weightedSum(head.forward(tokens: tokens.pointer, batch: 2, tokensPerImage: 3), c)
        }
        XCTAssertLessThan(error, tolerance)
        // Only the CLS rows (0 and 3) get gradient.
        for row in [1, 2, 4, 5] { for j in 0..<4 { XCTAssertEqual(dTokens[row * 4 + j], 0) } }
    }
}
