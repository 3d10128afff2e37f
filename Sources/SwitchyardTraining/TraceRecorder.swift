import Foundation
import SwitchyardRouting
import SwitchyardTraces

/// Collects the routing plans of every MoE layer over many batches into one
/// ``RoutingTrace`` (tokens numbered image by image: token = image · T + position).
public final class TraceRecorder {
    /// Tokens per image.
    public let tokensPerImage: Int
    /// Experts per layer.
    public let expertCount: Int
    /// Model block index of each recorded layer.
    public let layerIndices: [Int]
    private var layers: [LayerRouting]
    private var labels: [Int32] = []
    private var positions: [Int32] = []
    private var tokenCount = 0
    private var groups: [Int] = []       // tokens of each recorded batch (routing group)
    private var keepProbabilities: Bool
    private var perToken: [Int32] = []   // scratch: assignments per token in a batch
    private var cursor: [Int32] = []     // scratch: write position per token

    /// Images per routing group (0: each batch is one group).
    let imagesPerGroup: Int

    /// A recorder for layers at `layerIndices` with `expertCount` experts each. With
    /// `keepProbabilities`, the full n × E router probabilities are kept (E floats per token
    /// and layer); `imagesPerGroup` is the model's routing-group size.
    public init(tokensPerImage: Int, expertCount: Int, layerIndices: [Int], keepProbabilities: Bool,
                imagesPerGroup: Int = 0) {
        self.tokensPerImage = tokensPerImage
        self.imagesPerGroup = imagesPerGroup
        self.expertCount = expertCount
        self.layerIndices = layerIndices
        self.keepProbabilities = keepProbabilities
        layers = layerIndices.map { LayerRouting(layer: $0, offsets: [0], experts: [], weights: []) }
    }

    /// Records one batch: the labels of its images and, per recorded layer, the plan of
    /// that layer's last forward over the batch's `labels.count · tokensPerImage` tokens.
    /// The batch's routing groups (``imagesPerGroup`` images each, or the whole batch) become
    /// routing groups of the trace (``RoutingTrace/routingGroups``).
    public func record(labels batchLabels: ArraySlice<Int32>, plans: [RoutingPlan]) {
        precondition(plans.count == layers.count, "one plan per recorded layer")
        let n = batchLabels.count * tokensPerImage
        for label in batchLabels {
            for p in 0..<tokensPerImage {
                labels.append(label)
                positions.append(Int32(p))
            }
        }
        for (l, plan) in plans.map(\.statisticsPlan).enumerated() {   // a soft plan's record
            precondition(plan.tokenCount == n, "plan has \(plan.tokenCount) tokens, batch has \(n)")
            append(plan: plan, to: &layers[l], tokens: n)
        }
        tokenCount += n
        let size = imagesPerGroup * tokensPerImage
        if size > 0 && size < n {
            groups.append(contentsOf: stride(from: 0, to: n, by: size).map { min(size, n - $0) })
        } else if n > 0 {
            groups.append(n)
        }
    }

    private func append(plan: RoutingPlan, to layer: inout LayerRouting, tokens n: Int) {
        // Expert-major plan → token-major CSR, by counting sort (experts stay in increasing
        // order within a token).
        perToken = [Int32](repeating: 0, count: n)
        for t in plan.tokens { perToken[Int(t)] += 1 }
        let base = Int32(layer.experts.count)
        cursor = [Int32](repeating: 0, count: n)
        var running = base
        for t in 0..<n {
            cursor[t] = running
            running += perToken[t]
            layer.offsets.append(running)
        }
        layer.experts.append(contentsOf: repeatElement(0, count: plan.assignmentCount))
        layer.weights.append(contentsOf: repeatElement(0, count: plan.assignmentCount))
        for e in 0..<plan.expertCount {
            for i in plan.range(ofExpert: e) {
                let t = Int(plan.tokens[i])
                let slot = Int(cursor[t])
                cursor[t] += 1
                layer.experts[slot] = Int32(e)
                layer.weights[slot] = plan.weights[i]
            }
        }
        if let capacity = plan.capacity { layer.capacity = (layer.capacity ?? 0) + capacity }
        if !plan.preferredExpert.isEmpty {
            if layer.preferredExpert == nil { layer.preferredExpert = [] }
            layer.preferredExpert!.append(contentsOf: plan.preferredExpert.prefix(n))
        }
        if let probabilities = plan.probabilities, probabilities.count >= n * plan.expertCount {
            let e = plan.expertCount
            let p = probabilities.pointer
            if layer.topProbability == nil { layer.topProbability = []; layer.routerEntropy = [] }
            for t in 0..<n {
                var best: Float = 0, h: Float = 0
                for j in 0..<e {
                    let v = p[t * e + j]
                    best = max(best, v)
                    if v > 0 { h -= v * logf(v) }
                }
                layer.topProbability!.append(best)
                layer.routerEntropy!.append(h)
            }
            if keepProbabilities {
                if layer.probabilities == nil { layer.probabilities = [] }
                layer.probabilities!.append(contentsOf: UnsafeBufferPointer(start: p, count: n * e))
            }
        }
    }

    /// The trace of everything recorded.
    public func trace(classCount: Int, classNames: [String], metadata: [String: String]) -> RoutingTrace {
        RoutingTrace(expertCount: expertCount, tokenCount: tokenCount, labels: labels, positions: positions,
                     classCount: classCount, classNames: classNames, layers: layers, routingGroups: groups,
                     metadata: metadata)
    }
}
