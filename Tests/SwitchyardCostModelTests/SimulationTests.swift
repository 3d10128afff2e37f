import SwitchyardCostModel
import SwitchyardFileIO
import SwitchyardTraces
import XCTest

final class SimulationTests: XCTestCase {
    /// hidden 2, FFN 3, 4 bytes: a row is 8 bytes and 24 FLOPs; 1 TFLOP/s, 1 GB/s.
    let model = ClusterModel(linkBandwidthGBps: 1, deviceTFLOPs: 1, hidden: 2, ffnHidden: 3, bytesPerElement: 4)

    /// Four tokens, E = 4 on D = 2 (experts 0, 1 on device 0; 2, 3 on device 1); tokens 0, 1
    /// start on device 0, tokens 2, 3 on device 1.
    let hand = costTrace(experts: 4, layers: [[[0, 2], [0], [0, 3], [1]]])

    func simulate(_ trace: RoutingTrace, devices: Int, placement: ExpertPlacement? = nil, cf: Double? = nil,
                  dispatch: DispatchMode = .perExpert, groupTokens: Int? = nil) throws -> SimulationResult {
        try ExpertParallelSimulation.run(
            trace, groups: DispatchGroups(trace, groupTokens: groupTokens),
            placement: placement ?? .contiguous(experts: trace.expertCount, devices: devices, layers: trace.layers.count),
            options: SimulationOptions(devices: devices, capacityFactor: cf, dispatch: dispatch, model: model, groupDetail: true))
    }

    func testHandComputedLoadsBytesAndTimes() throws {
        let r = try simulate(hand, devices: 2)
        let layer = r.layers[0], g = layer.groups[0]
        XCTAssertEqual(layer.expertLoads, [3, 1, 1, 1])
        XCTAssertEqual(layer.deviceTokens, [2, 2])
        XCTAssertEqual(g.deviceRows, [4, 2])              // device 0: experts 0 (3) and 1 (1)
        XCTAssertEqual(g.maxDeviceRows, 4)
        XCTAssertEqual(g.meanDeviceRows, 3)
        XCTAssertEqual(try XCTUnwrap(g.stragglerFactor), 4.0 / 3.0, accuracy: 1e-12)
        // t0 (device 0): e0 local, e2 → 1; t1: e0 local; t2 (device 1): e0 → 0, e3 local; t3: e1 → 0.
        XCTAssertEqual(layer.volumeRows, [[2, 1], [2, 1]])
        XCTAssertEqual(g.deviceSentRows, [1, 2])
        XCTAssertEqual(g.deviceReceivedRows, [2, 1])
        XCTAssertEqual(g.remoteRows, 3)
        XCTAssertEqual(g.dropped, 0)
        XCTAssertNil(g.capacity)
        // Compute: 4 rows × 24 FLOPs / 1e12; exchanges: 2 × (2 rows × 8 bytes) / 1e9.
        XCTAssertEqual(g.computeSeconds, 96e-12, accuracy: 1e-24)
        XCTAssertEqual(g.exchangeSeconds, 32e-9, accuracy: 1e-21)
        XCTAssertEqual(g.stepSeconds, 32e-9 + 96e-12, accuracy: 1e-21)
        // Ideal: 3 rows of compute, 3/2 remote rows per device per exchange.
        XCTAssertEqual(g.idealStepSeconds, 72e-12 + 2 * 1.5 * 8e-9, accuracy: 1e-21)
        XCTAssertEqual(try XCTUnwrap(layer.summary.remoteFraction), 0.5, accuracy: 1e-12)
    }

    func testCapacityDropsLaterTokensFirst() throws {
        // Capacity ⌈1.0 · 6 / 4⌉ = 2: expert 0's third assignment (token 2) is dropped.
        let r = try simulate(hand, devices: 2, cf: 1.0)
        let layer = r.layers[0], g = layer.groups[0]
        XCTAssertEqual(g.capacity, 2)
        XCTAssertEqual(g.dropped, 1)
        XCTAssertEqual(layer.expertDropped, [1, 0, 0, 0])
        XCTAssertEqual(g.deviceRows, [3, 2])
        XCTAssertEqual(try XCTUnwrap(g.stragglerFactor), 3 / 2.5, accuracy: 1e-12)
        XCTAssertEqual(layer.volumeRows, [[2, 1], [1, 1]])
        XCTAssertEqual(layer.summary.droppedFraction, 1.0 / 6.0, accuracy: 1e-12)
        // Megatron's order of operations, ⌈(A / E) · cf⌉:
        // (90 / 3) · 1.1 is 33.0 in double precision, 1.1 · 90 / 3 is 33.000000000000007.
        XCTAssertEqual(SimulationOptions.capacity(assignments: 90, experts: 3, factor: 1.1), 33)
        XCTAssertEqual(SimulationOptions.capacity(assignments: 6, experts: 4, factor: 1.0), 2)
        // cf 1.5: capacity ⌈1.5 · 6 / 4⌉ = 3, nothing dropped.
        XCTAssertEqual(try simulate(hand, devices: 2, cf: 1.5).layers[0].groups[0].dropped, 0)
    }

    func testPerDeviceDispatchSendsATokenOnceToEachRemoteDevice() throws {
        // Token 0 (device 0) chooses expert 2 (device 1); token 1 (device 1) experts 0 and 1, both on device 0.
        let trace = costTrace(experts: 4, layers: [[[2], [0, 1]]])
        let perExpert = try simulate(trace, devices: 2).layers[0]
        let perDevice = try simulate(trace, devices: 2, dispatch: .perDevice).layers[0]
        XCTAssertEqual(perExpert.volumeRows, [[0, 1], [2, 0]])
        XCTAssertEqual(perDevice.volumeRows, [[0, 1], [1, 0]])
        XCTAssertEqual(perExpert.deviceRows, perDevice.deviceRows, "compute counts every assignment either way")
        XCTAssertEqual(perDevice.deviceRows, [2, 1])
        XCTAssertEqual(perDevice.deviceSentRows, [1, 1])
    }

    func testGroupsAreStepsAndTheirTokensAreSplitEvenly() throws {
        XCTAssertEqual((0..<5).map { DispatchGroups.sourceDevice(local: $0, size: 5, devices: 2) }, [0, 0, 1, 1, 1])
        XCTAssertEqual((0..<2).map { DispatchGroups.sourceDevice(local: $0, size: 2, devices: 4) }, [1, 3])
        XCTAssertEqual((0..<8).map { DispatchGroups.sourceDevice(local: $0, size: 8, devices: 4) }, [0, 0, 1, 1, 2, 2, 3, 3])
        // Two groups of 2 tokens: each group's tokens are split over the devices on their own.
        let grouped = costTrace(experts: 4, layers: [[[0, 2], [0], [0, 3], [1]]], groups: [2, 2])
        let r = try simulate(grouped, devices: 2)
        XCTAssertEqual(r.groupSource, .trace)
        XCTAssertEqual(r.layers[0].groups.map(\.tokens), [2, 2])
        XCTAssertEqual(r.layers[0].groups.map(\.deviceRows), [[2, 1], [2, 1]])
        // Group 0: t0 (dev 0) e0 local, e2 → 1; t1 (dev 1) e0 → 0. Group 1: t2 (dev 0) e0 local, e3 → 1; t3 (dev 1) e1 → 0.
        XCTAssertEqual(r.layers[0].volumeRows, [[2, 2], [2, 0]])
        XCTAssertEqual(try simulate(grouped, devices: 2, groupTokens: 3).layers[0].groups.map(\.tokens), [3, 1])
        XCTAssertEqual(try simulate(hand, devices: 2).groupSource, .wholeTrace)
    }

    func testConservationAndMatrixSumsOnRandomTraces() throws {
        var rng = CostLCG(state: 11)
        for round in 0..<30 {
            let E = 2 + rng.next(below: 40), k = 1 + rng.next(below: 3), n = 1 + rng.next(below: 300)
            let groups = round % 3 == 0 ? nil : [n / 2, n - n / 2].filter { $0 > 0 }
            let trace = skewedTrace(experts: E, tokens: n, k: k, layers: 2, groups: groups, seed: UInt64(round))
            let D = [1, 2, 3, 4, 8, 16, 64][rng.next(below: 7)]
            for placement in [ExpertPlacement.contiguous(experts: E, devices: D, layers: 2), PlacementOptimizer.balanced(trace, devices: D)] {
                for cf: Double? in [nil, 1.0, 1.25] {
                    for dispatch in DispatchMode.allCases {
                        let r = try simulate(trace, devices: D, placement: placement, cf: cf, dispatch: dispatch)
                        for (i, layer) in r.layers.enumerated() {
                            let assignments = trace.layers[i].experts.count
                            let dropped = layer.groups.reduce(0) { $0 + $1.dropped }
                            XCTAssertEqual(layer.deviceTokens.reduce(0, +), n, "every token sits on one device")
                            XCTAssertEqual(layer.deviceRows.reduce(0, +), assignments - dropped, "kept rows conserved")
                            XCTAssertEqual(layer.expertLoads.reduce(0, +), assignments)
                            XCTAssertEqual(layer.expertDropped.reduce(0, +), dropped)
                            let v = try XCTUnwrap(layer.volumeRows)
                            for d in 0..<D {
                                XCTAssertEqual(v[d].reduce(0, +) - v[d][d], layer.deviceSentRows[d], "row sums = sent")
                                XCTAssertEqual(v.reduce(0) { $0 + $1[d] } - v[d][d], layer.deviceReceivedRows[d], "column sums = received")
                            }
                            XCTAssertEqual(layer.deviceSentRows.reduce(0, +), layer.groups.reduce(0) { $0 + $1.remoteRows })
                            if dispatch == .perExpert { XCTAssertEqual(v.joined().reduce(0, +), assignments - dropped) }
                            for g in layer.groups {
                                XCTAssertEqual(g.deviceRows!.max()!, g.maxDeviceRows)
                                if let cap = g.capacity { XCTAssertEqual(cap, Int((Double(g.assignments) / Double(E) * cf!).rounded(.up))) }
                                if let s = g.stragglerFactor { XCTAssertGreaterThanOrEqual(s, 1 - 1e-12); XCTAssertLessThanOrEqual(s, Double(D) + 1e-9) }
                                XCTAssertGreaterThanOrEqual(g.stepSeconds, g.idealStepSeconds * (1 - 1e-12))
                            }
                            if D == 1 {
                                XCTAssertEqual(layer.deviceSentRows, [0])
                                XCTAssertTrue(layer.groups.allSatisfy { $0.exchangeSeconds == 0 && $0.stragglerFactor.map { abs($0 - 1) < 1e-12 } ?? true })
                            }
                        }
                        if cf == nil { XCTAssertEqual(r.overall.dropped, 0) }
                    }
                }
            }
        }
    }

    func testLargeDeviceCountsKeepNoMatrixButTheSameTotals() throws {
        let trace = skewedTrace(experts: 2048, tokens: 3000, k: 2, layers: 1, groups: [1000, 1000, 1000], seed: 5)
        let r = try simulate(trace, devices: 1024)
        XCTAssertNil(r.layers[0].volumeRows)
        XCTAssertEqual(r.layers[0].deviceRows.reduce(0, +), 6000)
        XCTAssertEqual(r.layers[0].deviceSentRows.reduce(0, +), r.layers[0].deviceReceivedRows.reduce(0, +))
        // 2 experts per device; each group's 1,000 tokens on 1,000 of the 1,024 devices.
        XCTAssertEqual(ExpertPlacement.contiguous(experts: 2048, devices: 1024, layers: 1).expertsPerDevice(layer: 0), [Int](repeating: 2, count: 1024))
    }

    func testContiguousPlacementWithUnevenCounts() {
        // E = 10 on D = 4: ranges ⌊rE/D⌋: 0..<2, 2..<5, 5..<7, 7..<10.
        XCTAssertEqual(ExpertPlacement.contiguous(experts: 10, devices: 4, layers: 1).devices[0], [0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
        // D > E: devices 1 and 3 of 4 hold the two experts, 0 and 2 none.
        XCTAssertEqual(ExpertPlacement.contiguous(experts: 2, devices: 4, layers: 1).devices[0], [1, 3])
    }

    func testDistributionPercentilesInterpolate() throws {
        let d = try XCTUnwrap(Distribution([4, 1, 3, 2]))
        XCTAssertEqual(d.mean, 2.5)
        XCTAssertEqual(d.p50, 2.5)
        XCTAssertEqual(d.p90, 3.7, accuracy: 1e-12)   // h = 0.9 · 3 = 2.7: 3 + 0.7 · (4 − 3)
        XCTAssertEqual(d.min, 1)
        XCTAssertEqual(d.max, 4)
        XCTAssertNil(Distribution([]))
    }

    func testTrainingStepCostsThreeTimesTheComputeAndTwiceTheExchanges() throws {
        var training = model
        training.training = true
        let forward = try simulate(hand, devices: 2).layers[0].groups[0]
        let step = try ExpertParallelSimulation.run(hand, groups: DispatchGroups(hand),
                                                    placement: .contiguous(experts: 4, devices: 2, layers: 1),
                                                    options: SimulationOptions(devices: 2, model: training)).layers[0].groups[0]
        XCTAssertEqual(step.computeSeconds, 3 * forward.computeSeconds, accuracy: 1e-24)
        XCTAssertEqual(step.exchangeSeconds, 2 * forward.exchangeSeconds, accuracy: 1e-21)
    }

    func testBadOptionsAndEmptyTracesAreInputErrors() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch let e as InputError { return e.description } catch { return "not an InputError: \(error)" }
            return "no error"
        }
        for d in [0, -3, 1025] {
            XCTAssertTrue(message { _ = try simulate(hand, devices: d) }.contains("--devices: must be in 1…1024, got \(d)"))
        }
        for bw in [Double.nan, -1, 0, .infinity] {
            var m = model
            m.linkBandwidthGBps = bw
            XCTAssertTrue(message { try m.validate() }.contains("--link-bandwidth"), "\(bw)")
        }
        var m = model
        m.deviceTFLOPs = -5
        XCTAssertTrue(message { try m.validate() }.contains("--device-flops"))
        m = model
        m.bytesPerElement = 0
        XCTAssertTrue(message { try m.validate() }.contains("--bytes-per-element"))
        for cf in [0, -1, Double.nan] {
            XCTAssertTrue(message { _ = try simulate(hand, devices: 2, cf: cf) }.contains("--capacity-factor"), "\(cf)")
        }
        XCTAssertTrue(message { _ = try simulate(hand, devices: 2, groupTokens: 0) }.contains("--group-tokens"))
        let empty = RoutingTrace(expertCount: 4, tokenCount: 0, layers: [LayerRouting(layer: 0, offsets: [0], experts: [], weights: [])],
                                 metadata: ["source": "empty.csv"])
        XCTAssertTrue(message { _ = try simulate(empty, devices: 2) }.contains("empty.csv: the trace has 0 tokens"))
        let unrouted = costTrace(experts: 4, layers: [[[], []]])
        XCTAssertTrue(message { _ = try simulate(unrouted, devices: 2) }.contains("nothing to dispatch"))
        let wrong = ExpertPlacement.contiguous(experts: 4, devices: 3, layers: 1)
        XCTAssertTrue(message { _ = try simulate(hand, devices: 2, placement: wrong) }.contains("does not fit the trace"))
    }
}
