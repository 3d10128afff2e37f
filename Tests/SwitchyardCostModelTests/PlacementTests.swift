import Foundation
import SwitchyardCostModel
import SwitchyardFileIO
import SwitchyardTraces
import XCTest

final class PlacementTests: XCTestCase {
    func maxLoad(_ trace: RoutingTrace, _ placement: ExpertPlacement, layer: Int = 0) -> Int {
        let stats = ExpertCoActivation(trace.layers[layer], expertCount: trace.expertCount)
        return PlacementOptimizer.maxLoad(placement.devices[layer], stats.loads, devices: placement.deviceCount)
    }

    func testBalancedIsStrictlyBetterOnASkewedTrace() throws {
        // Top-1 loads 10, 9, 1, 1: contiguous puts 19 on device 0; the best split is 11 / 10.
        let tokens = Array(repeating: [0], count: 10) + Array(repeating: [1], count: 9) + [[2], [3]]
        let trace = costTrace(experts: 4, layers: [tokens])
        let contiguous = ExpertPlacement.contiguous(experts: 4, devices: 2, layers: 1)
        let balanced = PlacementOptimizer.balanced(trace, devices: 2)
        XCTAssertEqual(maxLoad(trace, contiguous), 19)
        XCTAssertEqual(maxLoad(trace, balanced), 11)
        XCTAssertEqual(balanced.expertsPerDevice(layer: 0), [2, 2])
        // And so is the simulated straggler factor.
        let options = SimulationOptions(devices: 2)
        let a = try ExpertParallelSimulation.run(trace, groups: DispatchGroups(trace), placement: balanced, options: options)
        let b = try ExpertParallelSimulation.run(trace, groups: DispatchGroups(trace), placement: contiguous, options: options)
        XCTAssertEqual(try XCTUnwrap(a.overall.stragglerFactor?.max), 11 / 10.5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(b.overall.stragglerFactor?.max), 19 / 10.5, accuracy: 1e-12)
        XCTAssertLessThan(try XCTUnwrap(a.overall.stepSeconds?.mean), try XCTUnwrap(b.overall.stepSeconds?.mean))
    }

    func testBalancedNeverLosesToContiguousAndKeepsExpertCountsEven() {
        var rng = CostLCG(state: 3)
        for round in 0..<60 {
            let E = 2 + rng.next(below: 70), D = [2, 3, 4, 5, 8, 16, 32, 100][rng.next(below: 8)]
            let trace = skewedTrace(experts: E, tokens: 50 + rng.next(below: 400), k: 1 + rng.next(below: 3), layers: 1,
                                    groups: nil, seed: UInt64(round) + 100)
            let balanced = PlacementOptimizer.balanced(trace, devices: D)
            let contiguous = ExpertPlacement.contiguous(experts: E, devices: D, layers: 1)
            XCTAssertLessThanOrEqual(maxLoad(trace, balanced), maxLoad(trace, contiguous), "E \(E), D \(D)")
            let counts = balanced.expertsPerDevice(layer: 0)
            XCTAssertEqual(counts.reduce(0, +), E)
            XCTAssertTrue(counts.allSatisfy { $0 == E / D || $0 == (E + D - 1) / D }, "E \(E), D \(D): \(counts)")
            XCTAssertEqual(counts.filter { $0 == E / D + 1 }.count, E % D)
            // Never below the lower bound max(total / D, the heaviest expert).
            let loads = ExpertCoActivation(trace.layers[0], expertCount: E).loads
            XCTAssertGreaterThanOrEqual(maxLoad(trace, balanced), max(loads.max()!, (loads.reduce(0, +) + D - 1) / D))
        }
    }

    func testWithACapacityTheOptimiserBalancesWhatIsKept() throws {
        var rng = CostLCG(state: 9)
        for round in 0..<12 {
            let E = 8 + rng.next(below: 40), D = [2, 4, 8][rng.next(below: 3)], n = 600
            let trace = skewedTrace(experts: E, tokens: n, k: 2, layers: 1, groups: [200, 200, 200], seed: UInt64(round) + 500)
            let groups = try DispatchGroups(trace)
            for cf in [0.8, 1.0, 1.25] {
                let options = SimulationOptions(devices: D, capacityFactor: cf)
                let balanced = PlacementOptimizer.balanced(trace, devices: D, groups: groups, capacityFactor: cf)
                let contiguous = ExpertPlacement.contiguous(experts: E, devices: D, layers: 1)
                let a = try ExpertParallelSimulation.run(trace, groups: groups, placement: balanced, options: options).layers[0]
                let b = try ExpertParallelSimulation.run(trace, groups: groups, placement: contiguous, options: options).layers[0]
                XCTAssertEqual(a.summary.dropped, b.summary.dropped, "drops do not depend on the placement")
                // The kept loads the optimiser saw are the rows the simulation processed per expert.
                let kept = ExpertCoActivation(trace.layers[0], expertCount: E, groups: groups, capacityFactor: cf).loads
                XCTAssertEqual(zip(a.expertLoads, a.expertDropped).map { $0 - $1 }, kept)
                XCTAssertLessThanOrEqual(a.deviceRows.max()!, b.deviceRows.max()!, "E \(E), D \(D), cf \(cf)")
            }
        }
    }

    func testCoActivatedExpertsEndUpTogether() throws {
        // Tokens choose experts {0, 2} or {1, 3}, equally often: contiguous (0, 1 | 2, 3) splits
        // every pair; balanced keeps each pair on one device at the same maximum load.
        let tokens = (0..<40).map { $0 % 2 == 0 ? [0, 2] : [1, 3] }
        let trace = costTrace(experts: 4, layers: [tokens])
        let stats = ExpertCoActivation(trace.layers[0], expertCount: 4)
        let contiguous = ExpertPlacement.contiguous(experts: 4, devices: 2, layers: 1)
        let balanced = PlacementOptimizer.balanced(trace, devices: 2)
        XCTAssertEqual(stats.splitPairs(contiguous.devices[0]), 40)
        XCTAssertEqual(stats.splitPairs(balanced.devices[0]), 0)
        XCTAssertEqual(maxLoad(trace, balanced), maxLoad(trace, contiguous))
        // With deduplicated dispatch that halves the traffic of tokens that leave their device.
        let options = SimulationOptions(devices: 2, dispatch: .perDevice)
        let a = try ExpertParallelSimulation.run(trace, groups: DispatchGroups(trace), placement: balanced, options: options)
        let b = try ExpertParallelSimulation.run(trace, groups: DispatchGroups(trace), placement: contiguous, options: options)
        XCTAssertLessThan(a.layers[0].groups[0].remoteRows, b.layers[0].groups[0].remoteRows)
        XCTAssertEqual(a.layers[0].splitCoActivatedPairs, 0)
    }

    func testMoreDevicesThanExpertsPutsOneExpertPerDevice() {
        let trace = skewedTrace(experts: 6, tokens: 100, k: 2, layers: 1, groups: nil, seed: 1)
        let counts = PlacementOptimizer.balanced(trace, devices: 16).expertsPerDevice(layer: 0)
        XCTAssertEqual(counts.filter { $0 == 1 }.count, 6)
        XCTAssertEqual(counts.filter { $0 == 0 }.count, 10)
    }

    // MARK: Placement files

    var root: String!
    let trace = costTrace(experts: 4, layers: [[[0], [1], [2], [3]], [[0, 1], [2], [3], [1]]])   // layers 1 and 3

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "placement-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = root + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    func testPlacementFilesInEveryForm() throws {
        let list = try PlacementFile.read(write("a.json", "[1, 0, 1, 0]"), trace: trace, devices: 2)
        XCTAssertEqual(list.devices, [[1, 0, 1, 0], [1, 0, 1, 0]])
        XCTAssertEqual(list.kind, .file)
        let perLayer = try PlacementFile.read(write("b.json", """
            {"devices": 2, "layers": [{"layer": 3, "devices": [0, 0, 1, 1]}, {"layer": 1, "devices": [1, 1, 0, 0]}]}
            """), trace: trace, devices: 2)
        XCTAssertEqual(perLayer.devices, [[1, 1, 0, 0], [0, 0, 1, 1]])
        let csv = try PlacementFile.read(write("c.csv", "expert,device\n3,1\n0,0\n1,0\n2,1\n"), trace: trace, devices: 2)
        XCTAssertEqual(csv.devices, [[0, 0, 1, 1], [0, 0, 1, 1]])
        let csvLayers = try PlacementFile.read(write("d.csv", "\u{FEFF}layer,expert,device\r\n" + (0..<4).map { "1,\($0),\($0 % 2)\r\n3,\($0),\(1 - $0 % 2)" }.joined(separator: "\r\n") + "\r\n"),
                                               trace: trace, devices: 2)
        XCTAssertEqual(csvLayers.devices, [[0, 1, 0, 1], [1, 0, 1, 0]])
        // What --save-placement writes reads back.
        let balanced = PlacementOptimizer.balanced(trace, devices: 2)
        let saved = root + "/saved.json"
        try AtomicFile.write(PlacementFile.json(balanced, trace: trace), to: saved)
        XCTAssertEqual(try PlacementFile.read(saved, trace: trace, devices: 2).devices, balanced.devices)
    }

    func testBadPlacementFilesNameTheFileAndTheEntry() throws {
        let cases: [(String, String, String)] = [
            ("d.json", "[0, 1, 2, 0]", "d.json: [2]: expert 2: device 2 is outside 0..<2 (--devices 2)"),
            ("n.json", "[0, 1, 1]", "n.json: has 3 entries; the trace has 4 experts"),
            ("b.json", "[0, 1, true, 0]", "b.json: [2]: expert 2: expected an integer device number, got true"),
            ("f.json", "[0, 1, 0.5, 0]", "f.json: [2]: expert 2: expected an integer device number, got 0.5"),
            ("s.json", "[0, 1, \"1\", 0]", "s.json: [2]: expert 2: expected an integer device number, got \"1\""),
            ("x.json", "[0, 1,", "x.json: not valid JSON"),
            ("m.json", "{\"layers\": [{\"layer\": 1, \"devices\": [0, 0, 1, 1]}]}", "m.json: layers: no placement for layer 3 (the trace has layers 1, 3)"),
            ("u.json", "{\"layers\": [{\"layer\": 2, \"devices\": [0, 0, 1, 1]}]}", "u.json: layers[0].layer: 2 is not a layer of the trace (layers 1, 3)"),
            ("t.json", "{\"layers\": [{\"layer\": 1, \"devices\": [0, 0, 1, 1]}, {\"layer\": 1, \"devices\": [0, 0, 1, 1]}]}", "t.json: layers[1].layer: layer 1 is given twice"),
            ("v.json", "{\"devices\": 4, \"layers\": []}", "v.json: devices: the file is for 4 devices, --devices is 2"),
            ("o.json", "{\"placement\": [0, 1]}", "o.json: expected a list of devices"),
            ("e.csv", "", "e.csv: empty file"),
            ("h.csv", "expert,gpu\n0,0\n", "h.csv: line 1: header expert,gpu: expected expert,device or layer,expert,device"),
            ("r.csv", "expert,device\n0,0\n1,0\n2,1\n0,1\n3,1\n", "r.csv: line 5: expert 0 is given twice (first on line 2)"),
            ("g.csv", "expert,device\n0,0\n1,0\n2,1\n", "g.csv: expert 3 has no row (every expert exactly once)"),
            ("i.csv", "expert,device\n0,0\n1,zero\n", "i.csv: line 3, column device: expected an integer, got 'zero'"),
            ("k.csv", "expert,device\n0,0\n7,0\n", "k.csv: line 3, column expert: expert 7 is outside 0..<4"),
            ("j.csv", "expert,device\n0,0\n1,-1\n", "j.csv: line 3, column device: device -1 is outside 0..<2"),
            ("w.csv", "expert,device\n0,0,1\n", "w.csv: line 2: 3 fields, the header has 2"),
            ("l.csv", "layer,expert,device\n1,0,0\n1,1,0\n1,2,1\n1,3,1\n", "l.csv: expert 0 of layer 3 has no row (every expert exactly once per layer)"),
            ("q.csv", "layer,expert,device\n5,0,0\n", "q.csv: line 2, column layer: 5 is not a layer of the trace (layers 1, 3)"),
        ]
        for (name, text, expected) in cases {
            let path = try write(name, text)
            XCTAssertThrowsError(try PlacementFile.read(path, trace: trace, devices: 2), name) { error in
                XCTAssertTrue(error is InputError, "\(name): \(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(name): \(error)")
                XCTAssertTrue("\(error)".hasPrefix(path), "\(name): the error names the file: \(error)")
            }
        }
        XCTAssertThrowsError(try PlacementFile.read(root + "/missing.json", trace: trace, devices: 2)) { error in
            XCTAssertTrue("\(error)".contains("missing.json"), "\(error)")
        }
    }
}
