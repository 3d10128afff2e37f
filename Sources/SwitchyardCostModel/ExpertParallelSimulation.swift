import Foundation
import SwitchyardFileIO
import SwitchyardTraces

/// One routing group of one layer: one expert-parallel dispatch step.
public struct GroupCost: Codable, Equatable, Sendable {
    /// The group's index.
    public var group: Int
    /// Its tokens.
    public var tokens: Int
    /// Its assignments A_g in this layer, before capacity.
    public var assignments: Int
    /// Per-expert capacity ⌈cf · A_g / E⌉, nil when dropless.
    public var capacity: Int?
    /// Assignments over capacity.
    public var dropped: Int
    /// The busiest device's expert rows (its kept assignments).
    public var maxDeviceRows: Int
    /// Kept assignments / D.
    public var meanDeviceRows: Double
    /// maxDeviceRows / meanDeviceRows; nil when no row was processed.
    public var stragglerFactor: Double?
    /// Rows that cross the network in one exchange (dispatch; combine sends them back).
    public var remoteRows: Int
    /// The most rows one device sends in the dispatch.
    public var maxSentRows: Int
    /// The most rows one device receives in the dispatch.
    public var maxReceivedRows: Int
    /// The busiest device's expert compute.
    public var computeSeconds: Double
    /// All exchanges of the layer (dispatch and combine; twice that when training).
    public var exchangeSeconds: Double
    /// computeSeconds + exchangeSeconds.
    public var stepSeconds: Double
    /// The step with kept rows and remote rows spread evenly over the devices.
    public var idealStepSeconds: Double
    /// Expert rows per device (with ``SimulationOptions/groupDetail``, else nil).
    public var deviceRows: [Int]?
    /// Rows each device sends to other devices in the dispatch (with `groupDetail`).
    public var deviceSentRows: [Int]?
    /// Rows each device receives from other devices in the dispatch (with `groupDetail`).
    public var deviceReceivedRows: [Int]?
}

/// One MoE layer over all groups.
public struct LayerCost: Codable, Equatable, Sendable {
    /// The block number.
    public var layer: Int
    /// The device of each expert.
    public var expertDevices: [Int]
    /// Assignments per expert, before capacity.
    public var expertLoads: [Int]
    /// Assignments per expert over capacity.
    public var expertDropped: [Int]
    /// Tokens each device holds (its data-parallel shares), summed over groups.
    public var deviceTokens: [Int]
    /// Expert rows each device processed, summed over groups.
    public var deviceRows: [Int]
    /// Rows each device sent to other devices in the dispatches, summed over groups.
    public var deviceSentRows: [Int]
    /// Rows each device received from other devices in the dispatches, summed over groups.
    public var deviceReceivedRows: [Int]
    /// `volumeRows[s][d]`: rows from device s to device d in the dispatches, summed over groups;
    /// the diagonal holds rows that stay on their device. Nil for D above
    /// ``SimulationOptions/volumeMatrixLimit``.
    public var volumeRows: [[Int]]?
    /// Co-activated (token, expert pair) counts split over devices (E ≤ 2,048).
    public var splitCoActivatedPairs: Int?
    /// Every group.
    public var groups: [GroupCost]
    /// The groups summarised.
    public var summary: CostSummary
}

/// What `switchyard simulate` computes for one placement.
public struct SimulationResult: Codable, Equatable, Sendable {
    /// Devices D.
    public var devices: Int
    /// Experts E per layer.
    public var experts: Int
    /// How the placement was made.
    public var placement: ExpertPlacement.Kind
    /// How rows were counted on the network.
    public var dispatch: DispatchMode
    /// The capacity factor, nil when dropless.
    public var capacityFactor: Double?
    /// Machine and model sizes.
    public var model: ClusterModel
    /// Where the dispatch steps came from, and how many there are.
    public var groupSource: DispatchGroups.Source
    public var groupCount: Int
    /// Every layer, in trace order.
    public var layers: [LayerCost]
    /// All layers: step time per group summed over layers; straggler factors over every (layer, group).
    public var overall: CostSummary
}

/// The expert-parallel cost of a routing trace (docs/expert-parallel.md).
///
/// Each routing group is one dispatch step. Its tokens are split over the D devices as a
/// data-parallel batch (``DispatchGroups/sourceDevice(local:size:devices:)``); each kept
/// (token, expert) assignment is processed by the expert's device; rows whose expert is on
/// another device cross the network (``DispatchMode``) in the dispatch, and again in reverse
/// in the combine. The step time of a layer and group is the busiest device's expert compute
/// plus the exchanges, each taking the busiest device's max(sent, received) bytes over the
/// link bandwidth (full duplex); nothing overlaps.
public enum ExpertParallelSimulation {
    /// Simulates `trace` cut into `groups` with `placement`.
    public static func run(_ trace: RoutingTrace, groups: DispatchGroups, placement: ExpertPlacement,
                           options: SimulationOptions) throws -> SimulationResult {
        try options.validate()
        guard trace.tokenCount > 0, trace.assignmentCount > 0 else {
            throw InputError(file: trace.metadata["source"], message: "the trace has \(trace.tokenCount) tokens and "
                             + "\(trace.assignmentCount) assignments: nothing to dispatch")
        }
        guard placement.deviceCount == options.devices, placement.expertCount == trace.expertCount,
              placement.devices.count == trace.layers.count,
              placement.devices.allSatisfy({ $0.count == trace.expertCount && $0.allSatisfy { (0..<options.devices).contains($0) } }) else {
            throw InputError(message: "the placement (\(placement.deviceCount) devices, \(placement.expertCount) experts, "
                             + "\(placement.devices.count) layers) does not fit the trace (\(trace.expertCount) experts, "
                             + "\(trace.layers.count) layers) on \(options.devices) devices")
        }
        guard groups.starts.last == trace.tokenCount else {
            throw InputError(message: "the routing groups cover \(groups.starts.last ?? 0) tokens, the trace has \(trace.tokenCount)")
        }
        var layers: [LayerCost] = []
        for (i, layer) in trace.layers.enumerated() {
            layers.append(simulateLayer(layer, experts: trace.expertCount, groups: groups,
                                        expertDevices: placement.devices[i], options: options))
        }
        let stats = trace.layers.map { ExpertCoActivation($0, expertCount: trace.expertCount) }
        for i in layers.indices { layers[i].splitCoActivatedPairs = stats[i].splitPairs(placement.devices[i]) }
        return SimulationResult(devices: options.devices, experts: trace.expertCount, placement: placement.kind,
                                dispatch: options.dispatch, capacityFactor: options.capacityFactor, model: options.model,
                                groupSource: groups.source, groupCount: groups.count, layers: layers,
                                overall: overall(layers, groups: groups.count, model: options.model))
    }

    static func overall(_ layers: [LayerCost], groups: Int, model: ClusterModel) -> CostSummary {
        var step = [Double](repeating: 0, count: groups), compute = step, exchange = step
        var ideal = 0.0, straggler: [Double] = [], remote = 0, processed = 0
        for l in layers {
            for (g, c) in l.groups.enumerated() {
                step[g] += c.stepSeconds
                compute[g] += c.computeSeconds
                exchange[g] += c.exchangeSeconds
                ideal += c.idealStepSeconds
                if let s = c.stragglerFactor { straggler.append(s) }
                remote += c.remoteRows
                processed += c.assignments - c.dropped
            }
        }
        return CostSummary(groups: groups, assignments: layers.reduce(0) { $0 + $1.summary.assignments },
                           dropped: layers.reduce(0) { $0 + $1.summary.dropped }, straggler: straggler, step: step,
                           compute: compute, exchange: exchange, ideal: ideal, remote: remote, processed: processed)
    }

    static func simulateLayer(_ layer: LayerRouting, experts E: Int, groups: DispatchGroups, expertDevices: [Int],
                              options: SimulationOptions) -> LayerCost {
        let D = options.devices, model = options.model
        let keepMatrix = D <= SimulationOptions.volumeMatrixLimit
        var volume = [Int](repeating: 0, count: keepMatrix ? D * D : 0)
        var expertLoads = [Int](repeating: 0, count: E), expertDropped = expertLoads
        var deviceTokens = [Int](repeating: 0, count: D), deviceRows = deviceTokens
        var deviceSent = deviceTokens, deviceReceived = deviceTokens
        // Per-group counters, reset lazily: an entry is current when its stamp is the group's.
        var kept = [Int](repeating: 0, count: E), expertStamp = [Int](repeating: -1, count: E)
        var rows = [Int](repeating: 0, count: D), sent = rows, received = rows
        var deviceStamp = [Int](repeating: -1, count: D)
        var touched: [Int] = []
        var costs: [GroupCost] = []
        costs.reserveCapacity(groups.count)
        var destinations: [Int] = []
        layer.offsets.withUnsafeBufferPointer { offsets in
            layer.experts.withUnsafeBufferPointer { experts in
                expertDevices.withUnsafeBufferPointer { place in
                    for g in 0..<groups.count {
                        let range = groups.tokens(g)
                        let size = range.count
                        let assignments = Int(offsets[range.upperBound] - offsets[range.lowerBound])
                        let capacity = options.capacityFactor.map {
                            SimulationOptions.capacity(assignments: assignments, experts: E, factor: $0)
                        }
                        var dropped = 0, remote = 0
                        touched.removeAll(keepingCapacity: true)
                        @inline(__always) func touch(_ d: Int) {
                            if deviceStamp[d] != g {
                                deviceStamp[d] = g
                                rows[d] = 0; sent[d] = 0; received[d] = 0
                                touched.append(d)
                            }
                        }
                        for t in range {
                            let src = DispatchGroups.sourceDevice(local: t - range.lowerBound, size: size, devices: D)
                            deviceTokens[src] += 1
                            touch(src)
                            destinations.removeAll(keepingCapacity: true)
                            for a in Int(offsets[t])..<Int(offsets[t + 1]) {
                                let e = Int(experts[a])
                                expertLoads[e] += 1
                                if expertStamp[e] != g { expertStamp[e] = g; kept[e] = 0 }
                                if let capacity, kept[e] >= capacity {
                                    dropped += 1
                                    expertDropped[e] += 1
                                    continue
                                }
                                kept[e] += 1
                                let dst = place[e]
                                touch(dst)
                                rows[dst] += 1
                                if options.dispatch == .perDevice {
                                    if destinations.contains(dst) { continue }
                                    destinations.append(dst)
                                }
                                if keepMatrix { volume[src * D + dst] += 1 }
                                if dst != src {
                                    sent[src] += 1
                                    received[dst] += 1
                                    remote += 1
                                }
                            }
                        }
                        var maxRows = 0, maxSent = 0, maxReceived = 0
                        for d in touched {
                            maxRows = max(maxRows, rows[d])
                            maxSent = max(maxSent, sent[d])
                            maxReceived = max(maxReceived, received[d])
                            deviceRows[d] += rows[d]
                            deviceSent[d] += sent[d]
                            deviceReceived[d] += received[d]
                        }
                        let processed = assignments - dropped
                        let mean = Double(processed) / Double(D)
                        let compute = model.computeSeconds(rows: Double(maxRows))
                        let exchange = model.exchangesPerLayer * model.exchangeSeconds(rows: Double(max(maxSent, maxReceived)))
                        let ideal = model.computeSeconds(rows: mean)
                            + model.exchangesPerLayer * model.exchangeSeconds(rows: Double(remote) / Double(D))
                        func detail(_ v: [Int]) -> [Int]? {
                            guard options.groupDetail else { return nil }
                            return (0..<D).map { deviceStamp[$0] == g ? v[$0] : 0 }
                        }
                        costs.append(GroupCost(
                            group: g, tokens: size, assignments: assignments, capacity: capacity, dropped: dropped,
                            maxDeviceRows: maxRows, meanDeviceRows: mean,
                            stragglerFactor: processed > 0 ? Double(maxRows) / mean : nil,
                            remoteRows: remote, maxSentRows: maxSent, maxReceivedRows: maxReceived,
                            computeSeconds: compute, exchangeSeconds: exchange, stepSeconds: compute + exchange,
                            idealStepSeconds: ideal, deviceRows: detail(rows), deviceSentRows: detail(sent),
                            deviceReceivedRows: detail(received)))
                    }
                }
            }
        }
        let processed = costs.reduce(0) { $0 + $1.assignments - $1.dropped }
        let summary = CostSummary(
            groups: costs.count, assignments: layer.experts.count, dropped: costs.reduce(0) { $0 + $1.dropped },
            straggler: costs.compactMap(\.stragglerFactor), step: costs.map(\.stepSeconds),
            compute: costs.map(\.computeSeconds), exchange: costs.map(\.exchangeSeconds),
            ideal: costs.reduce(0) { $0 + $1.idealStepSeconds }, remote: costs.reduce(0) { $0 + $1.remoteRows },
            processed: processed)
        return LayerCost(layer: layer.layer, expertDevices: expertDevices, expertLoads: expertLoads,
                         expertDropped: expertDropped, deviceTokens: deviceTokens, deviceRows: deviceRows,
                         deviceSentRows: deviceSent, deviceReceivedRows: deviceReceived,
                         volumeRows: keepMatrix ? (0..<D).map { Array(volume[$0 * D ..< ($0 + 1) * D]) } : nil,
                         splitCoActivatedPairs: nil, groups: costs, summary: summary)
    }
}
