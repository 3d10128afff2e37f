import Foundation
import SwitchyardTensorCore

/// The learned gate most routers start from: logits z = x·Wᵀ (``RouterGate``, W of shape [E, d])
/// and scores s = softmax(z) over the experts — or s = sigmoid(z) per expert (DeepSeek-V3,
/// loss-free balancing) — computed in one pass over blocks of rows together with what the usual
/// losses need: each row's first choice (``firstChoice``), its log-sum-exp (z-loss), the expert
/// counts of the first choices and the column sums of s (balance loss). The pass splits rows
/// over the compute threads in fixed blocks and adds block sums in block order, so every number
/// is the same for any thread count.
///
/// Backward: give dL/ds per token (through the plan's combine weights, plus a per-expert term
/// such as the balance loss's, plus the z-loss) and it accumulates dW and adds dL/dx.
public final class SoftmaxGate {
    /// How scores come from logits.
    public enum Score: String, Codable, Sendable {
        /// s = softmax(z) over the experts.
        case softmax
        /// s_e = 1/(1 + exp(−z_e)) per expert.
        case sigmoid
    }

    /// The linear map and its buffers.
    public let gate: RouterGate
    /// softmax or sigmoid.
    public let score: Score
    /// W.
    public var parameters: [Parameter] { [gate.weight] }
    /// Experts E.
    public var experts: Int { gate.experts }
    /// Token width d.
    public var width: Int { gate.width }

    private let scores: PlanProbabilities
    private let rowPass = RouterRowPass()
    /// Each token's highest-scoring expert in the last forward (first on ties).
    public private(set) var firstChoice: [Int32] = []
    private var lastTokenCount = 0

    /// A gate from width `width` to `experts` scores, W initialised N(0, 0.1/d) (Switch's
    /// reduced scale) from `rng`; its parameter is named `name`.
    public init(width: Int, experts: Int, score: Score = .softmax, name: String = "gate.weight", rng: inout SeededRNG) {
        gate = RouterGate(name: name, width: width, experts: experts, rng: &rng)
        self.score = score
        scores = PlanProbabilities(experts: experts)
    }

    /// Computes the scores of `n` tokens `x` (n × d) and returns them (n × E, valid until the next
    /// forward). `columnSums` and `logSumExp` ask for ``columnSums`` and
    /// ``squaredLogSumExpSum`` (softmax only).
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, tokenCount n: Int, columnSums: Bool = false,
                        logSumExp: Bool = false) -> UnsafeMutablePointer<Float> {
        let e = experts
        lastTokenCount = n
        if firstChoice.count != n { firstChoice = [Int32](repeating: 0, count: n) }
        let p = scores.reserve(n)
        switch score {
        case .softmax:
            // The gate's product block by block inside the row pass, while the block is in cache.
            gate.reserve(n)
            let logits = gate.logits.pointer
            firstChoice.withUnsafeMutableBufferPointer { choices in
                rowPass.run(logits: logits, probabilities: p, choices: choices.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!,
                            rows: n, experts: e, columnSums: columnSums, squaredLogSumExp: logSumExp,
                            computeLogits: { self.gate.forwardRows(x, rows: $0) })
            }
        case .sigmoid:
            let z = gate.forward(x, tokenCount: n, zeroingGradients: false)
            for i in 0..<(n * e) { p[i] = 1 / (1 + expf(-z[i])) }
            rowPass.countAndSum(scores: p, choices: &firstChoice, rows: n, experts: e, columnSums: columnSums)
        }
        return p
    }

    /// The scores of the last forward, n × E.
    public var scoreTensor: Tensor { scores.tensor }
    /// The scores of the last forward.
    public var scorePointer: UnsafeMutablePointer<Float> { scores.pointer }
    /// Per expert: tokens whose first choice it is (last forward).
    public var counts: [Int] { rowPass.counts }
    /// Per expert: Σ over tokens of its score (when the forward asked for column sums).
    public var columnSums: [Float] { rowPass.columnSums }
    /// Σ over tokens of lse² (softmax, when the forward asked for it): the z-loss's sum.
    public var squaredLogSumExpSum: Float { rowPass.squaredLogSumExpSum }

    /// Backward through the scores of the last forward: for each token t, dL/ds_te = `base[e]`
    /// (a per-expert term such as ``BalanceLoss/gradientPerExpert(tokenCount:experts:scale:)``, or
    /// nil) + `dScores[t·E + e]` (or nil) + the sum of `dWeights[i]` over the plan's assignments
    /// i = (t, e) whose weight is s_te (`plan` nil: none); then through softmax (plus
    /// `zScale`·lse_t·s_te, the z-loss, see ``ZLoss``) or sigmoid into dz; accumulates dW and adds
    /// dL/dx into `dInput`.
    public func backward(plan: RoutingPlan?, dWeights: UnsafePointer<Float>?, base: [Float]?,
                         dScores: UnsafePointer<Float>? = nil, zScale: Float = 0,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        let n = lastTokenCount, e = experts
        let p = UnsafePointer(scores.pointer), dLogits = gate.dLogits.pointer
        if let plan { fillExpertOfAssignment(plan, into: &expertOfAssignment) }
        let useZ = score == .softmax && zScale != 0
        base.withOptionalBuffer { basePointer in
            expertOfAssignment.withUnsafeBufferPointer { expertOf in
                rowPass.withLogSumExp { lse in
                    let rowGradient = { (rows: Range<Int>, offsets: UnsafePointer<Int32>?, entries: UnsafePointer<Int32>?) in
                        for t in rows {
                            let g = dLogits + t * e
                            if let basePointer { g.update(from: basePointer, count: e) } else { g.update(repeating: 0, count: e) }
                            if let dScores { for j in 0..<e { g[j] += dScores[t * e + j] } }
                            if let offsets, let entries, let dWeights {
                                for q in Int(offsets[t]) ..< Int(offsets[t + 1]) {
                                    let i = Int(entries[q])
                                    g[Int(expertOf[i])] += dWeights[i]
                                }
                            }
                            switch self.score {
                            case .softmax:
                                softmaxRowBackwardInPlace(g, probabilities: p + t * e, width: e, extra: useZ ? zScale * lse[t] : 0)
                            case .sigmoid:
                                for j in 0..<e { let s = p[t * e + j]; g[j] *= s * (1 - s) }
                            }
                        }
                    }
                    if let plan {
                        plan.withTokenIndex { offsets, entries in
                            gate.backward(x, tokenCount: n, dInput: dInput) { rows in rowGradient(rows, offsets, entries) }
                        }
                    } else {
                        gate.backward(x, tokenCount: n, dInput: dInput) { rows in rowGradient(rows, nil, nil) }
                    }
                }
            }
        }
    }

    private var expertOfAssignment: [Int32] = []
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with a pointer to the array's elements, or nil.
    fileprivate func withOptionalBuffer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .some(let array): return array.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: return body(nil)
        }
    }
}
