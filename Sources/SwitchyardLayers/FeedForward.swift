import SwitchyardTensorCore

/// The transformer feed-forward network, and each expert of an MoE layer:
/// FFN(x) = GELU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂, from width d to hidden h and back (GELU in its tanh form;
/// its element-wise loops are split over ``ComputeThreads``).
public final class FeedForward: Layer {
    /// First projection, d → h.
    public let fc1: Linear
    /// Second projection, h → d.
    public let fc2: Linear
    /// Model width d.
    public let width: Int
    /// Hidden width h.
    public let hidden: Int
    private var activation: Tensor   // GELU(fc1 output)
    private var dHidden: Tensor

    /// An FFN d → h → d initialised from `rng`.
    public init(name: String, width: Int, hidden: Int, rng: inout SeededRNG) {
        self.width = width
        self.hidden = hidden
        fc1 = Linear(name: "\(name).fc1", inputWidth: width, outputWidth: hidden, rng: &rng)
        fc2 = Linear(name: "\(name).fc2", inputWidth: hidden, outputWidth: width, rng: &rng)
        activation = Tensor(shape: [0, hidden])
        dHidden = Tensor(shape: [0, hidden])
    }

    /// W₁, b₁, W₂, b₂.
    public var parameters: [Parameter] { fc1.parameters + fc2.parameters }

    /// FFN of `m` rows of `x` ([m, d]) written to `output` ([m, d]). `x` must stay valid until
    /// ``backward(dOutput:input:rows:dInput:)``.
    public func forward(_ x: UnsafePointer<Float>, rows m: Int, into output: UnsafeMutablePointer<Float>) {
        if activation.shape[0] < m {
            activation = Tensor(shape: [m, hidden])
            dHidden = Tensor(shape: [m, hidden])
        }
        let pre = UnsafePointer(fc1.forward(x, rows: m))
        let activated = activation.pointer
        parallelParts(m * hidden, minimumPerPart: 8_192) { part, _ in
            geluForward(pre + part.lowerBound, into: activated + part.lowerBound, count: part.count)
        }
        fc2.forward(activation.pointer, rows: m, into: output)
    }

    /// Backward through the last forward: writes dL/dx ([m, d]) into `dInput` and accumulates
    /// the parameters' gradients. `x` is the forward's input.
    public func backward(dOutput: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows m: Int,
                         dInput: UnsafeMutablePointer<Float>) {
        fc2.backward(dOutput: dOutput, dInput: dHidden.pointer)
        let pre = UnsafePointer(fc1.output.pointer), dh = dHidden.pointer
        parallelParts(m * hidden, minimumPerPart: 8_192) { part, _ in
            let o = part.lowerBound
            geluBackward(input: pre + o, dOutput: dh + o, dInput: dh + o, count: part.count)
        }
        fc1.backward(dOutput: dHidden.pointer, dInput: dInput)
    }

    /// Sets this FFN's weights and biases to Σ_e c_e·θ_e over `experts` (same shapes), with
    /// c_e = 1/E when `coefficients` is nil (the plain average, AdaMix-style).
    public func assignMerge(of experts: [FeedForward], coefficients: [Float]?) {
        precondition(!experts.isEmpty, "assignMerge of no experts")
        precondition(coefficients == nil || coefficients!.count == experts.count, "one coefficient per expert")
        let mine = parameters
        let uniform = 1 / Float(experts.count)
        for (i, p) in mine.enumerated() {
            p.value.zero()
            for (e, expert) in experts.enumerated() {
                axpy(coefficients?[e] ?? uniform, expert.parameters[i].value.pointer, p.value.pointer, count: p.count)
            }
        }
    }
}
