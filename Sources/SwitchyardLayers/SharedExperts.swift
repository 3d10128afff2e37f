import Foundation
import SwitchyardTensorCore

/// How a shared expert's output is weighted.
public enum SharedExpertGate: String, Codable, CaseIterable, Sendable {
    /// Added as it is (DeepSeekMoE, Dai et al. 2024).
    case none
    /// Scaled per token by sigmoid(x·w_s) with a learned vector w_s (Qwen2-MoE's
    /// `shared_expert_gate`).
    case sigmoid
}

/// The always-on shared experts of an MoE layer: FFNs that every token goes through beside the
/// routed experts, outside routing plans, load statistics and traces.
///
///     y_t += Σ_s g_s(x_t) · FFN_s(x_t),   g_s = 1 (gate none) or sigmoid(x_t · w_s) (gate sigmoid)
///
/// Parameters are named `<layer>.shared.<s>.fc1.weight`, … and `<layer>.shared.<s>.gate` (w_s,
/// [d], initialised uniform on ±1/√d like PyTorch's bias-free `nn.Linear(d, 1)`, with weight decay).
public final class SharedExperts: Layer {
    /// The shared FFNs.
    public let experts: [FeedForward]
    /// w_s per shared expert with the sigmoid gate, else empty.
    public let gates: [Parameter]
    /// The gate kind.
    public let gate: SharedExpertGate
    /// Model width d.
    public let width: Int

    private var outputs: [Tensor]       // FFN_s(x), n × d each (ungated; the gate backward reads them)
    private var gateValues: [Tensor]    // sigmoid(x·w_s), n each
    private var scratch: Tensor         // n × d
    private var dGate: Tensor           // n
    private var rows = 0

    /// `count` shared FFNs d → `hidden` → d of the layer `name`, initialised from `rng` in order
    /// (FFN 0, its gate, FFN 1, …).
    public init(name: String, count: Int, width: Int, hidden: Int, gate: SharedExpertGate, rng: inout SeededRNG) {
        precondition(count >= 1, "SharedExperts needs at least one expert")
        self.width = width
        self.gate = gate
        var experts: [FeedForward] = [], gates: [Parameter] = []
        let bound = 1 / Float(width).squareRoot()
        for s in 0..<count {
            experts.append(FeedForward(name: "\(name).shared.\(s)", width: width, hidden: hidden, rng: &rng))
            if gate == .sigmoid {
                let w = Parameter(name: "\(name).shared.\(s).gate", shape: [width], decays: true)
                rng.fillUniform(w.value.pointer, count: width, low: -bound, high: bound)
                gates.append(w)
            }
        }
        self.experts = experts
        self.gates = gates
        outputs = experts.map { _ in Tensor(shape: [0, width]) }
        gateValues = experts.map { _ in Tensor(shape: [0]) }
        scratch = Tensor(shape: [0, width])
        dGate = Tensor(shape: [0])
    }

    /// Each FFN's parameters followed by its gate.
    public var parameters: [Parameter] {
        experts.indices.flatMap { s in experts[s].parameters + (gates.isEmpty ? [] : [gates[s]]) }
    }

    private func ensureCapacity(rows n: Int) {
        guard scratch.shape[0] < n else { return }
        outputs = experts.map { _ in Tensor(shape: [n, width]) }
        gateValues = experts.map { _ in Tensor(shape: [n]) }
        scratch = Tensor(shape: [n, width])
        dGate = Tensor(shape: [n])
    }

    /// Adds the shared experts' outputs for `n` rows of `x` (n × d) to `y` (n × d). `x` must
    /// stay valid until ``backward(dOutput:input:rows:addingTo:)``.
    public func forward(_ x: UnsafePointer<Float>, rows n: Int, addingTo y: UnsafeMutablePointer<Float>) {
        ensureCapacity(rows: n)
        rows = n
        for (s, ffn) in experts.enumerated() {
            let out = outputs[s].pointer
            ffn.forward(x, rows: n, into: out)
            if gate == .sigmoid {
                let g = gateValues[s].pointer
                gemm(.none, .none, m: n, n: 1, k: width, a: x, lda: width, b: gates[s].value.pointer, ldb: 1, c: g, ldc: 1)
                for t in 0..<n { g[t] = 1 / (1 + exp(-g[t])) }
                scratch.pointer.update(from: out, count: n * width)
                scaleRows(scratch.pointer, by: g, rows: n, width: width)
                addInPlace(y, scratch.pointer, count: n * width)
            } else {
                addInPlace(y, out, count: n * width)
            }
        }
    }

    /// Backward through the last forward: adds dL/dx to `dInput` (n × d) and accumulates the
    /// FFNs' and gates' gradients. `dOutput` is dL/dy, `x` the forward's input.
    public func backward(dOutput dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows n: Int,
                         addingTo dInput: UnsafeMutablePointer<Float>) {
        precondition(n == rows, "SharedExperts.backward: \(n) rows, the forward had \(rows)")
        let d = width
        for (s, ffn) in experts.enumerated() {
            var dOut = dy
            if gate == .sigmoid {
                // y += g·FFN(x): dFFN = g·dy; dg_t = dy_t·FFN(x_t); dz = dg·g(1 − g); dw += xᵀ·dz; dx += dz·wᵀ.
                let g = gateValues[s].pointer, dz = dGate.pointer, w = gates[s]
                rowDots(dy, outputs[s].pointer, rows: n, width: d, into: dz)
                for t in 0..<n { dz[t] *= g[t] * (1 - g[t]) }
                gemm(.transposed, .none, m: d, n: 1, k: n, a: x, lda: d, b: dz, ldb: 1, beta: 1,
                     c: w.gradient.pointer, ldc: 1)
                gemm(.none, .none, m: n, n: d, k: 1, a: dz, lda: 1, b: w.value.pointer, ldb: d, beta: 1,
                     c: dInput, ldc: d)
                scratch.pointer.update(from: dy, count: n * d)
                scaleRows(scratch.pointer, by: g, rows: n, width: d)
                dOut = UnsafePointer(scratch.pointer)
            }
            // The FFN's dx lands in outputs[s] (its forward output is not needed any more).
            ffn.backward(dOutput: dOut, input: x, rows: n, dInput: outputs[s].pointer)
            addInPlace(dInput, outputs[s].pointer, count: n * d)
        }
    }
}
