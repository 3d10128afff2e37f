import SwitchyardFileIO
import SwitchyardLayers
import SwitchyardParallelism
import SwitchyardRouting
import SwitchyardTensorCore
import SwitchyardVisionTransformer

/// The trainer's side of expert parallelism (docs/expert-parallel.md): rank r of P takes
/// images r·B/P ..< (r+1)·B/P of every batch (its routing group), owns experts r·E/P ..<
/// (r+1)·E/P of every MoE layer, and holds a replica of everything else, whose gradients are
/// summed over the ranks (in rank order, the same bits on every rank) before the update.
public final class ExpertParallelTraining {
    public let communicator: any Communicator
    /// Images per rank and batch, B/P.
    public let share: Int
    /// The parameters this rank updates: the replicated ones and its own experts', in model order.
    public let localParameters: [Parameter]
    /// For each model parameter, the rank that owns it, or nil when every rank holds it.
    let owners: [Int?]
    /// For each model parameter, its index in ``localParameters``, or nil.
    let optimizerIndex: [Int?]
    /// This rank's images and labels of the current batch.
    public let images: Tensor
    public private(set) var labels: [Int32]
    private let replicated: [Parameter]
    private var gradients: [Float] = []
    /// The exchanges' measurements, per MoE layer.
    public let dispatchers: [ExpertParallelDispatcher]

    public var rank: Int { communicator.rank }
    public var ranks: Int { communicator.size }
    public var isWriter: Bool { communicator.rank == 0 }

    /// Checks that `configuration` can run on `processes` processes: P divides the experts and
    /// the batch, and the routing groups divide a process's share. Throws an ``InputError``
    /// naming the field otherwise. `train --parallel expert` calls it before it writes anything.
    public static func validate(_ configuration: TrainingConfiguration, processes p: Int) throws {
        let b = configuration.batchSize, m = configuration.model
        if m.experts > 1 || p > 1 { _ = try ExpertShard(rank: 0, ranks: p, experts: m.experts) }
        guard b % p == 0 else {
            throw InputError(location: "batchSize", message: "\(b) images cannot be split evenly over \(p) processes; "
                             + "expert parallelism gives every process B/P images of each batch: use a multiple of \(p)")
        }
        let share = b / p
        guard let g = m.routingGroupImages, g > 0 else {
            throw InputError(location: "model.routingGroupImages", message: "is unset (the whole batch is one routing group), "
                             + "but under expert parallelism each process routes its own images: set it to a number of images "
                             + "dividing B/P = \(share) (`train --parallel expert` sets B/P on a new run; a run started without it "
                             + "cannot go on with --parallel expert)")
        }
        guard share % g == 0 else {
            let most = (1...p).filter { b % $0 == 0 && (b / $0) % g == 0 }.max() ?? 1
            throw InputError(location: "model.routingGroupImages", message: "\(g) images per routing group do not divide a "
                             + "process's \(share) images of each batch (batchSize \(b) over \(p) processes): groups may not span "
                             + "processes; this run can use at most \(most) process\(most == 1 ? "" : "es") (set "
                             + "model.routingGroupImages to B/P for the largest P a run should be able to resume on)")
        }
    }

    /// Validates the configuration for P ranks and attaches a dispatcher to every MoE layer.
    public init(communicator: any Communicator, model: VisionTransformerModel, configuration: TrainingConfiguration) throws {
        try Self.validate(configuration, processes: communicator.size)
        let p = communicator.size, b = configuration.batchSize, m = configuration.model
        let share = b / p
        let layers = model.moeLayers.map(\.layer)
        if let router = layers.first?.router {
            if router.traits.soft {
                throw InputError(location: "model.router", message: "\(m.router) makes soft plans (every slot mixes every token "
                                 + "of its group); expert parallelism here dispatches tokens, so it supports token-choice and "
                                 + "expert-choice routers only")
            }
            if router.evaluationMerge != nil {
                throw InputError(location: "model.router", message: "\(m.router) averages its experts into one at evaluation, "
                                 + "which needs every expert on every process; train it without --parallel expert")
            }
        }
        self.communicator = communicator
        self.share = share
        var dispatchers: [ExpertParallelDispatcher] = []
        var owner: [ObjectIdentifier: Int] = [:]
        for layer in layers where layer.experts.count > 1 || p > 1 {
            let d = try ExpertParallelDispatcher(communicator: communicator, experts: layer.experts.count)
            layer.dispatcher = d
            dispatchers.append(d)
            for (e, expert) in layer.experts.enumerated() {
                for q in expert.parameters { owner[ObjectIdentifier(q)] = d.shard.owner(ofExpert: e) }
            }
        }
        self.dispatchers = dispatchers
        let all = model.parameters
        owners = all.map { owner[ObjectIdentifier($0)] }
        localParameters = zip(all, owners).compactMap { q, o in o == nil || o == communicator.rank ? q : nil }
        replicated = zip(all, owners).compactMap { q, o in o == nil ? q : nil }
        var next = 0
        optimizerIndex = owners.map { o in
            guard o == nil || o == communicator.rank else { return nil }
            defer { next += 1 }
            return next
        }
        images = Tensor(shape: [share, m.imageChannels, m.imageSize, m.imageSize])
        labels = [Int32](repeating: 0, count: share)
    }

    /// Copies this rank's images of a batch of `n` (images r·s ..< min(n, (r+1)·s)) and returns
    /// how many there are.
    public func takeShare(of batch: Tensor, labels all: [Int32], count n: Int) -> Int {
        let start = min(n, rank * share), count = min(n, start + share) - start
        let size = batch.count / max(batch.shape[0], 1)
        images.pointer.update(from: batch.pointer + start * size, count: count * size)
        for i in 0..<count { labels[i] = all[start + i] }
        return count
    }

    /// The per-token random draws of a step on this rank (noise, sampling): a stream of the
    /// seed, rank and step, so that ranks draw independently and a resumed run, on any P, needs
    /// no generator state. The step's shared draw stays the run's (the same on every rank).
    public func tokenGenerator(seed: Int, step: Int) -> SeededRNG {
        SeededRNG.derived(seed: UInt64(seed) &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(rank + 1), stream: 1 << 32 &+ UInt64(step))
    }

    /// Every rank's measurements since the last call, summed over the MoE layers (rank 0 gets
    /// them all, the others too); the dispatchers start again from zero.
    public func gatherMeasurements() -> [ExchangeMeasurements] {
        let m = dispatchers.reduce(ExchangeMeasurements()) { $0 + $1.measurements }
        dispatchers.forEach { $0.resetMeasurements() }
        let mine = [Double(m.tokensSent), Double(m.tokensReceived), Double(m.bytesSent), Double(m.bytesReceived),
                    m.exchangeSeconds, m.waitSeconds, m.expertSeconds, Double(m.dispatchedRowsSent),
                    Double(m.dispatchedRowsReceived), Double(m.expertRows)]
        var all = [Double](repeating: 0, count: mine.count * ranks)
        mine.withUnsafeBufferPointer { v in all.withUnsafeMutableBufferPointer { communicator.allGather(v.baseAddress!, count: v.count, into: $0.baseAddress!) } }
        return (0..<ranks).map { r in
            let v = Array(all[r * mine.count ..< (r + 1) * mine.count])
            var x = ExchangeMeasurements()
            x.tokensSent = Int(v[0]); x.tokensReceived = Int(v[1]); x.bytesSent = Int(v[2]); x.bytesReceived = Int(v[3])
            x.exchangeSeconds = v[4]; x.waitSeconds = v[5]; x.expertSeconds = v[6]
            x.dispatchedRowsSent = Int(v[7]); x.dispatchedRowsReceived = Int(v[8]); x.expertRows = Int(v[9])
            return x
        }
    }

    /// Every rank's image count of a stretch.
    func gatherImages(_ n: Int) -> [Int] { communicator.allGather(Double(n)).map { Int($0) } }

    /// Sums the replicated parameters' gradients over the ranks, in rank order.
    public func reduceGradients() {
        let total = replicated.reduce(0) { $0 + $1.count }
        if gradients.count != total { gradients = [Float](repeating: 0, count: total) }
        gradients.withUnsafeMutableBufferPointer { g in
            var offset = 0
            for q in replicated { (g.baseAddress! + offset).update(from: q.gradient.pointer, count: q.count); offset += q.count }
            communicator.allReduceSum(g.baseAddress!, count: total)
            offset = 0
            for q in replicated { q.gradient.pointer.update(from: g.baseAddress! + offset, count: q.count); offset += q.count }
        }
    }

    /// The global gradient norm of the whole model, per parameter in model order as
    /// ``GradientClipping/globalNorm(_:)`` adds it: replicated sums from this rank, each
    /// expert's from its owner.
    public func globalNorm(_ all: [Parameter]) -> Float {
        var sums = GradientClipping.sumsOfSquares(all)
        for (i, o) in owners.enumerated() where o != rank && !(o == nil && rank == 0) { sums[i] = 0 }
        sums.withUnsafeMutableBufferPointer { communicator.allReduceSum($0.baseAddress!, count: $0.count) }
        return GradientClipping.norm(ofSums: sums)
    }

    /// Sums over the ranks of each MoE layer's loads, drops, tokens and assignments, and whether
    /// any rank asked to stop: every rank learns it in the same step, so all stop after it.
    func globalFacts(_ layers: [MoELayer], stopRequested: Bool) -> (facts: [LayerRoutingFacts], stop: Bool) {
        let local = layers.enumerated().map { LayerRoutingFacts(layer: $0.offset, plan: $0.element.plan) }
        var counts = local.flatMap { $0.tokensPerExpert + [$0.droppedTokens, $0.tokenCount, $0.assignmentCount] }
            + [stopRequested ? 1 : 0]
        communicator.allReduceSum(&counts)
        let stop = counts.removeLast() > 0
        var offset = 0
        let facts = local.map { f in
            let e = f.tokensPerExpert.count
            defer { offset += e + 3 }
            return LayerRoutingFacts(layer: f.layer, tokensPerExpert: Array(counts[offset ..< offset + e]),
                                     droppedTokens: counts[offset + e], tokenCount: counts[offset + e + 1],
                                     assignmentCount: counts[offset + e + 2], plan: f.plan)
        }
        return (facts, stop)
    }
}

extension ExpertParallelTraining {
    /// The whole batch's numbers from every rank's: mean cross-entropy over the batch's `n`
    /// images, auxiliary loss averaged over the ranks that held images (each covers its own
    /// tokens; the MoE layers' auxiliary gradients are scaled to match), correct images summed.
    public func combine(_ result: VisionTransformerModel.BatchResult, localImages: Int,
                        batchImages n: Int) -> VisionTransformerModel.BatchResult {
        let mine = [Double(result.crossEntropy) * Double(localImages), Double(result.auxiliaryLoss),
                    Double(result.correct), localImages > 0 ? 1 : 0]
        var all = [Double](repeating: 0, count: 4 * ranks)
        mine.withUnsafeBufferPointer { m in all.withUnsafeMutableBufferPointer { communicator.allGather(m.baseAddress!, count: 4, into: $0.baseAddress!) } }
        var crossEntropy = 0.0, auxiliary = 0.0, correct = 0.0, active = 0
        for r in 0..<ranks {
            crossEntropy += all[4 * r]
            auxiliary += all[4 * r + 1]
            correct += all[4 * r + 2]
            active += all[4 * r + 3] != 0 ? 1 : 0
        }
        for d in dispatchers { d.auxiliaryLossRanks = max(active, 1) }
        let ce = Float(crossEntropy / Double(max(n, 1))), aux = Float(auxiliary / Double(max(active, 1)))
        return .init(loss: ce + aux, crossEntropy: ce, auxiliaryLoss: aux, correct: Int(correct))
    }

    /// Rank 0 gets the whole batch's plan of each layer, ranks' tokens in rank order (as one
    /// process with the same routing groups numbers them); the other ranks get nil. Every rank
    /// must call it.
    public func gatherPlans(_ plans: [RoutingPlan]) -> [RoutingPlan]? {
        var merged: [RoutingPlan] = []
        for plan in plans {
            let e = plan.expertCount, n = plan.tokenCount, a = plan.assignmentCount
            let probabilities = plan.probabilities.flatMap { $0.count >= n * e ? $0 : nil }
            var record: [Double] = [Double(n), Double(a), plan.capacity.map(Double.init) ?? -1,
                                    probabilities == nil ? 0 : 1, Double(plan.preferredExpert.count >= n && n > 0 ? 1 : 0)]
            record += (0..<e).map { Double(plan.range(ofExpert: $0).count) }
            record += plan.tokens.map(Double.init)
            record += plan.weights.map(Double.init)
            if let probabilities { record += UnsafeBufferPointer(start: probabilities.pointer, count: n * e).map(Double.init) }
            if record[4] == 1 { record += plan.preferredExpert.prefix(n).map(Double.init) }
            let lengths = communicator.allGather(Double(record.count)).map { Int($0) }
            let longest = lengths.max() ?? 0
            record += repeatElement(0, count: longest - record.count)
            var all = [Double](repeating: 0, count: longest * ranks)
            record.withUnsafeBufferPointer { r in all.withUnsafeMutableBufferPointer { communicator.allGather(r.baseAddress!, count: longest, into: $0.baseAddress!) } }
            guard isWriter else { continue }
            merged.append(Self.merge(all, stride: longest, ranks: ranks, experts: e))
        }
        return isWriter ? merged : nil
    }

    private static func merge(_ all: [Double], stride: Int, ranks: Int, experts e: Int) -> RoutingPlan {
        func field(_ r: Int, _ i: Int) -> Double { all[r * stride + i] }
        let n = (0..<ranks).map { Int(field($0, 0)) }, a = (0..<ranks).map { Int(field($0, 1)) }
        let tokenBase = n.indices.map { n[..<$0].reduce(0, +) }, total = n.reduce(0, +)
        let plan = RoutingPlan()
        plan.reset(tokenCount: total, expertCount: e)
        for expert in 0..<e {
            for r in 0..<ranks {
                let counts = 5, tokens = counts + e, weights = tokens + a[r]
                let first = (0..<expert).reduce(0) { $0 + Int(field(r, counts + $1)) }
                for i in first ..< first + Int(field(r, counts + expert)) {
                    plan.append(expert: expert, token: tokenBase[r] + Int(field(r, tokens + i)), weight: Float(field(r, weights + i)))
                }
            }
        }
        plan.finish()
        let capacities = (0..<ranks).map { field($0, 2) }
        if capacities.allSatisfy({ $0 >= 0 }) { plan.capacity = Int(capacities.reduce(0, +)) }
        if (0..<ranks).allSatisfy({ field($0, 3) == 1 }) {
            let tensor = Tensor(shape: [total, e])
            for r in 0..<ranks {
                let start = 5 + e + 2 * a[r]
                for i in 0..<n[r] * e { tensor.pointer[tokenBase[r] * e + i] = Float(field(r, start + i)) }
            }
            plan.probabilities = tensor
        }
        if (0..<ranks).allSatisfy({ field($0, 4) == 1 || n[$0] == 0 }) && total > 0 {
            for r in 0..<ranks where n[r] > 0 {
                let start = 5 + e + 2 * a[r] + (field(r, 3) == 1 ? n[r] * e : 0)
                plan.preferredExpert += (0..<n[r]).map { Int32(field(r, start + $0)) }
            }
        }
        return plan
    }
}
