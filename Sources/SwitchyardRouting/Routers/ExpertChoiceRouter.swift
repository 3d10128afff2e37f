import Foundation
import SwitchyardTensorCore

/// `expert-choice`: Expert Choice routing (Zhou et al. 2022, "Mixture-of-Experts with Expert
/// Choice Routing").
///
/// S = softmax(x·Wᵀ) over experts (n × E); each expert takes its top k = ⌈n·c/E⌉ tokens along
/// the token axis (c = capacity factor, default 2; k ≤ n), and token t's output is
/// Σ_{e: t ∈ I_e} S[t,e]·FFN_e(x_t) with the raw scores as weights. Every expert processes
/// exactly k tokens, so the load is balanced by construction; a token may get 0, 1 or many
/// experts. No auxiliary loss.
///
/// EC-CAP (`maxExpertsPerToken` b > 0): before the top-k, the scores are replaced by an
/// entropy-regularised assignment A ≈ argmax ⟨S, A⟩ + λ·H(A) subject to Σ_t A_te = k per expert
/// and Σ_e A_te ≤ b per token, found by alternating projections in the log domain (log A =
/// S/λ + row and column potentials, `capIterations` rounds); experts take their top k by A, and
/// any token still over b keeps its b highest-S experts. The paper gives no code; this is
/// Switchyard's implementation of its description (§3.2). Gradients flow through S only.
public final class ExpertChoiceRouter: Router {
    /// Expert Choice hyperparameters.
    public struct Configuration: RouterConfiguration {
        /// c: each expert takes ⌈n·c/E⌉ tokens (on average c experts per token).
        public var capacityFactor = 2.0
        /// b of EC-CAP: at most b experts per token (0 = no cap).
        public var maxExpertsPerToken = 0
        /// λ of EC-CAP's entropy regularisation.
        public var capLambda: Float = 1e-3
        /// Alternating-projection rounds of EC-CAP.
        public var capIterations = 10

        /// The paper's defaults (c = 2, no cap).
        public init() {}

        /// Help per option.
        public static let optionHelp = [
            "capacityFactor": "c: each expert takes its top ceil(n·c/E) tokens",
            "maxExpertsPerToken": "EC-CAP: at most b experts per token (0 = no cap)",
            "capLambda": "EC-CAP entropy regularisation λ",
            "capIterations": "EC-CAP alternating-projection rounds",
        ]

        /// c > 0, b in 0…E, λ > 0, iterations ≥ 1.
        public func validate(expertCount: Int) throws {
            try ExpertCapacity.validate(capacityFactor, router: "expert-choice", field: "capacityFactor")
            try requireRange(maxExpertsPerToken >= 0 && maxExpertsPerToken <= expertCount, "expert-choice", "maxExpertsPerToken", maxExpertsPerToken, "0 (no cap) to E = \(expertCount)")
            try requireRange(capLambda > 0 && capLambda.isFinite, "expert-choice", "capLambda", capLambda, "a finite number > 0")
            try requireRange(capIterations >= 1 && capIterations <= 1000, "expert-choice", "capIterations", capIterations, "1 to 1000")
        }
    }

    /// "expert-choice".
    public static let name = "expert-choice"
    /// One sentence.
    public static let summary = "Each expert picks its top-k tokens, k = n·c/E: perfect balance, 0..E experts per token (Zhou et al. 2022)."

    /// The hyperparameters.
    public let configuration: Configuration
    /// E.
    public let expertCount: Int
    /// The gate W, [E, d].
    public let gate: RouterGate
    /// W.
    public var parameters: [Parameter] { [gate.weight] }

    private let probabilities: PlanProbabilities
    private var topValues: [Float] = []
    private var topIndices: [Int32] = []
    private var capScores: Tensor = Tensor(shape: [0])
    private let rowPass = RouterRowPass()
    private let selector = ColumnTopKSelector()
    private var expertOfAssignment: [Int32] = []
    private var sampleScores: [Float] = []
    private var sampleInputs: [Float] = []

    /// An Expert Choice router for width `modelWidth`.
    public init(configuration: Configuration, modelWidth: Int, expertCount: Int, rng: inout SeededRNG) {
        self.configuration = configuration
        self.expertCount = expertCount
        gate = RouterGate(name: "gate.weight", width: modelWidth, experts: expertCount, rng: &rng)
        probabilities = PlanProbabilities(experts: expertCount)
    }

    /// k = ⌈n·c/E⌉ capped at n.
    public func tokensPerExpert(tokenCount n: Int) -> Int {
        min(n, ExpertCapacity.tokens(factor: configuration.capacityFactor, assignments: n, experts: expertCount))
    }

    /// Experts choose tokens; every expert is filled to its capacity, and tokens per expert vary.
    public var traits: RouterTraits {
        RouterTraits(chooser: .experts, k: configuration.capacityFactor, fillsEveryExpert: true, expertsPerTokenVary: true)
    }

    /// k experts per token on average: `capacityFactor=k`.
    public static func options(expertsPerToken k: Int, experts: Int) -> [String: String]? {
        k >= 1 ? ["capacityFactor": String(k)] : nil
    }

    /// Each expert's top-k tokens, within each routing group.
    public func route(_ x: UnsafePointer<Float>, tokenCount n: Int, context: RoutingContext,
                      rng: inout SeededRNG, plan: RoutingPlan) throws {
        let e = expertCount
        let groups = context.groups(tokenCount: n)
        if groups.count > 1 && configuration.maxExpertsPerToken > 0 && configuration.maxExpertsPerToken < e {
            throw RoutingError(router: Self.name, message: "EC-CAP (maxExpertsPerToken > 0) routes one group per call; "
                               + "set model.routingGroupImages to 0 (the whole batch) or maxExpertsPerToken to 0")
        }
        plan.reset(tokenCount: n, expertCount: e)
        // The gate's product block by block inside the row pass, while the block is in cache.
        gate.reserve(n)
        let logits = gate.logits.pointer
        let gateInput = x
        let s = probabilities.reserve(n)
        let k = tokensPerExpert(tokenCount: n)
        let b = configuration.maxExpertsPerToken
        // Without EC-CAP, the candidates of each expert's top k are collected block by block
        // inside the row pass, from bounds set on a sample of the rows' scores.
        let inSteps = groups.count == 1 && !(b > 0 && b < e) && prepareSelection(x, tokens: n, k: k)
        plan.preferredExpert.append(contentsOf: repeatElement(0, count: n))
        plan.preferredExpert.withUnsafeMutableBufferPointer { choices in
            rowPass.run(logits: logits, probabilities: s, choices: choices.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!,
                        rows: n, experts: e, columnSums: false, squaredLogSumExp: false,
                        computeLogits: { self.gate.forwardRows(gateInput, rows: $0) },
                        afterBlock: inSteps ? { part, rows in self.selector.collectInSteps(UnsafePointer(s), rows: rows, width: e, part: part) } : nil)
        }
        if b > 0 && b < e {
            routeCapped(s, tokens: n, k: k, cap: b, plan: plan)
        } else if groups.count > 1 {
            routeGroups(s, groups: groups, plan: plan)
        } else {
            let loads = [Int](repeating: k, count: e)
            loads.withUnsafeBufferPointer { loadBuffer in
                plan.setAssignments(loads: loadBuffer) { tokens, weights, _ in
                    // Each expert's top k in increasing token order; weights are the scores.
                    if inSteps {
                        selector.finishInSteps(s, rows: n, width: e, k: k, indices: tokens, values: weights)
                    } else {
                        selector.select(s, rows: n, width: e, k: k, indices: tokens, values: weights)
                    }
                }
            }
        }
        plan.probabilities = probabilities.tensor
        plan.capacity = groups.count > 1 ? groups.reduce(0) { $0 + tokensPerExpert(tokenCount: $1.count) } : k
    }

    /// Each expert's top k_g = ⌈n_g·c/E⌉ tokens of each routing group g, the groups' selections
    /// concatenated per expert (so each expert's tokens stay in increasing order).
    private func routeGroups(_ s: UnsafeMutablePointer<Float>, groups: [Range<Int>], plan: RoutingPlan) {
        let e = expertCount
        let perGroup = groups.map { tokensPerExpert(tokenCount: $0.count) }
        let loads = [Int](repeating: perGroup.reduce(0, +), count: e)
        let most = perGroup.max() ?? 0
        var indices = [Int32](repeating: 0, count: e * most), values = [Float](repeating: 0, count: e * most)
        loads.withUnsafeBufferPointer { loadBuffer in
            plan.setAssignments(loads: loadBuffer) { tokens, weights, offsets in
                var written = 0
                for (g, range) in groups.enumerated() {
                    let k = perGroup[g], r0 = range.lowerBound
                    indices.withUnsafeMutableBufferPointer { ib in
                        values.withUnsafeMutableBufferPointer { vb in
                            selector.select(s + r0 * e, rows: range.count, width: e, k: k,
                                            indices: ib.baseAddress!, values: vb.baseAddress!)
                        }
                    }
                    for expert in 0..<e {
                        let out = offsets[expert] + written
                        for i in 0..<k {
                            tokens[out + i] = indices[expert * k + i] + Int32(r0)
                            weights[out + i] = values[expert * k + i]
                        }
                    }
                    written += k
                }
            }
        }
    }

    /// Scores of 1,024 evenly spaced sample rows (the gate and softmax on those rows), and from
    /// them the selector's bounds; false when the selection is done in one go instead (below
    /// 32,768 tokens, where the scores are still in cache for it, or k = n).
    private func prepareSelection(_ x: UnsafePointer<Float>, tokens n: Int, k: Int) -> Bool {
        let e = expertCount, d = gate.width, m = 1_024
        guard n >= 32_768, k < n else { return false }
        if sampleScores.count < m * e {
            sampleScores = [Float](repeating: 0, count: m * e)
            sampleInputs = [Float](repeating: 0, count: m * d)
        }
        let w = gate.weight.value.pointer
        return sampleInputs.withUnsafeMutableBufferPointer { inputs in
            sampleScores.withUnsafeMutableBufferPointer { scores in
                let xs = inputs.baseAddress!, ss = scores.baseAddress!
                for i in 0..<m { (xs + i * d).update(from: x + (i * n / m) * d, count: d) }
                gemm(.none, .transposed, m: m, n: e, k: d, a: xs, lda: d, b: w, ldb: d, c: ss, ldc: e)
                softmaxRows(ss, into: ss, rows: m, width: e)
                return selector.prepareInSteps(sample: ss, sampleRows: m, rows: n, width: e, k: k,
                                               parts: ComputeThreads.count)
            }
        }
    }

    /// EC-CAP: top-k by the capped scores, then each token keeps at most b experts.
    private func routeCapped(_ s: UnsafeMutablePointer<Float>, tokens n: Int, k: Int, cap b: Int, plan: RoutingPlan) {
        let e = expertCount
        if topValues.count < e * k {
            topValues = [Float](repeating: 0, count: e * k)
            topIndices = [Int32](repeating: 0, count: e * k)
        }
        let selectionScores = UnsafePointer(cappedScores(s, tokens: n, k: k, cap: b))
        topKColumns(selectionScores, rows: n, width: e, k: k, values: &topValues, indices: &topIndices)
        var keep = [Bool](repeating: true, count: e * k)
        enforceCap(s, tokens: n, k: k, cap: b, keep: &keep)
        let first = plan.preferredExpert
        plan.preferredExpert.removeAll(keepingCapacity: true)
        for expert in 0..<e {
            var chosen: [Int32] = []
            chosen.reserveCapacity(k)
            for i in 0..<k where keep[expert * k + i] { chosen.append(topIndices[expert * k + i]) }
            chosen.sort()
            for t in chosen { plan.append(expert: expert, token: Int(t), weight: s[Int(t) * e + expert]) }
        }
        plan.finish()
        plan.preferredExpert = first
    }

    /// EC-CAP's assignment scores: log A after alternating projections onto "each expert's
    /// column sums to k" and "each token's row sums to at most b", starting from S/λ.
    private func cappedScores(_ s: UnsafePointer<Float>, tokens n: Int, k: Int, cap b: Int) -> UnsafeMutablePointer<Float> {
        let e = expertCount
        if capScores.count < n * e { capScores = Tensor(shape: [n * e]) }
        let a = capScores.pointer
        let lambda = configuration.capLambda
        for i in 0..<(n * e) { a[i] = s[i] / lambda }
        let logK = logf(Float(k)), logB = logf(Float(b))
        for _ in 0..<configuration.capIterations {
            // Columns: Σ_t A_te = k.
            for j in 0..<e {
                var m = -Float.infinity
                for t in 0..<n { m = max(m, a[t * e + j]) }
                var z: Float = 0
                for t in 0..<n { z += expf(a[t * e + j] - m) }
                let shift = logK - (m + logf(z))
                for t in 0..<n { a[t * e + j] += shift }
            }
            // Rows: Σ_e A_te ≤ b, and A_te ≤ 1.
            for t in 0..<n {
                let row = a + t * e
                let lse = logSumExp(row, count: e)
                if lse > logB { for j in 0..<e { row[j] -= lse - logB } }
                for j in 0..<e where row[j] > 0 { row[j] = 0 }
            }
        }
        return a
    }

    /// Drops, for each token over the cap, its selections with the lowest S.
    private func enforceCap(_ s: UnsafePointer<Float>, tokens n: Int, k: Int, cap b: Int, keep: inout [Bool]) {
        let e = expertCount
        var perToken = [[Int]](repeating: [], count: n)   // slots (expert·k + i) selecting the token
        for slot in 0..<(e * k) { perToken[Int(topIndices[slot])].append(slot) }
        for t in 0..<n where perToken[t].count > b {
            let ranked = perToken[t].sorted { s[t * e + $0 / k] > s[t * e + $1 / k] || (s[t * e + $0 / k] == s[t * e + $1 / k] && $0 < $1) }
            for slot in ranked[b...] { keep[slot] = false }
        }
    }

    private func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var out: Float = 0
        logSumExpRows(x, rows: 1, width: count, into: &out)
        return out
    }

    /// Through the combine weights S[t, e] only, row by row.
    public func backward(plan: RoutingPlan, dWeights: UnsafePointer<Float>, auxiliaryLossScale: Float,
                         input x: UnsafePointer<Float>, dInput: UnsafeMutablePointer<Float>) {
        fillExpertOfAssignment(plan, into: &expertOfAssignment)
        expertOfAssignment.withUnsafeBufferPointer { expertOf in
            routerBackward(plan: plan, dWeights: dWeights, expertOf: expertOf.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                           probabilities: probabilities.pointer, base: nil, logSumExp: nil, zScale: 0,
                           gate: gate, input: x, dInput: dInput)
        }
    }
}
