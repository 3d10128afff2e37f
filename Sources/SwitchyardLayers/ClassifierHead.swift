import SwitchyardTensorCore

/// The classifier on the CLS token: logits = Linear(CLS) or, with a hidden width,
/// Linear(GELU(Linear(CLS))) (the seed project's MLP head).
public final class ClassifierHead: Layer {
    /// The optional hidden layer.
    public let hiddenLayer: Linear?
    /// The output layer, to `classes` logits.
    public let outputLayer: Linear
    /// Model width.
    public let width: Int
    /// The logits of the last forward, [B, classes].
    public var output: Tensor { outputLayer.output }
    private var clsRows: Tensor       // [B, D]
    private var activation: Tensor    // [B, hidden]
    private var dHidden: Tensor
    private var dCLS: Tensor
    private var dTokens: Tensor       // [B·T, D]

    /// A head from width `width` to `classes` logits; `hidden` 0 = linear.
    public init(name: String, width: Int, hidden: Int, classes: Int, rng: inout SeededRNG) {
        self.width = width
        if hidden > 0 {
            hiddenLayer = Linear(name: "\(name).hidden", inputWidth: width, outputWidth: hidden, rng: &rng)
            outputLayer = Linear(name: "\(name).out", inputWidth: hidden, outputWidth: classes, rng: &rng)
        } else {
            hiddenLayer = nil
            outputLayer = Linear(name: "\(name).out", inputWidth: width, outputWidth: classes, rng: &rng)
        }
        clsRows = Tensor(shape: [0, width])
        activation = Tensor(shape: [0])
        dHidden = Tensor(shape: [0])
        dCLS = Tensor(shape: [0, width])
        dTokens = Tensor(shape: [0, width])
    }

    /// The layers' parameters.
    public var parameters: [Parameter] { (hiddenLayer?.parameters ?? []) + outputLayer.parameters }

    /// Logits for the CLS rows (row b·T) of `tokens` ([B·T, D]).
    @discardableResult
    public func forward(tokens: UnsafePointer<Float>, batch: Int, tokensPerImage t: Int) -> UnsafeMutablePointer<Float> {
        if clsRows.shape[0] < batch {
            clsRows = Tensor(shape: [batch, width])
            dCLS = Tensor(shape: [batch, width])
            if let hiddenLayer {
                activation = Tensor(shape: [batch, hiddenLayer.outputWidth])
                dHidden = Tensor(shape: [batch, hiddenLayer.outputWidth])
            }
        }
        for b in 0..<batch { (clsRows.pointer + b * width).update(from: tokens + b * t * width, count: width) }
        if let hiddenLayer {
            let pre = hiddenLayer.forward(clsRows.pointer, rows: batch)
            geluForward(pre, into: activation.pointer, count: batch * hiddenLayer.outputWidth)
            return outputLayer.forward(activation.pointer, rows: batch)
        }
        return outputLayer.forward(clsRows.pointer, rows: batch)
    }

    /// Backward from dL/d(logits): accumulates the head's gradients and returns dL/d(tokens)
    /// ([B·T, D], zero except the CLS rows), in the head's own buffer.
    public func backward(dLogits: UnsafePointer<Float>, batch: Int, tokensPerImage t: Int) -> UnsafePointer<Float> {
        if dTokens.count < batch * t * width { dTokens = Tensor(shape: [batch * t, width]) }
        if let hiddenLayer {
            outputLayer.backward(dOutput: dLogits, dInput: dHidden.pointer)
            let n = batch * hiddenLayer.outputWidth
            geluBackward(input: hiddenLayer.output.pointer, dOutput: dHidden.pointer, dInput: dHidden.pointer, count: n)
            hiddenLayer.backward(dOutput: dHidden.pointer, dInput: dCLS.pointer)
        } else {
            outputLayer.backward(dOutput: dLogits, dInput: dCLS.pointer)
        }
        let out = dTokens.pointer
        out.update(repeating: 0, count: batch * t * width)
        for b in 0..<batch { (out + b * t * width).update(from: dCLS.pointer + b * width, count: width) }
        return UnsafePointer(out)
    }
}
