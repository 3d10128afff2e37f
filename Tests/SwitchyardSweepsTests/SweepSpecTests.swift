import Foundation
import XCTest
import SwitchyardFileIO
import SwitchyardTraining
@testable import SwitchyardSweeps

/// Specs are expanded into the runs they describe, and every mistake in one is reported with
/// the spec's line before anything runs.
final class SweepSpecTests: XCTestCase {
    static let grid = """
        # two routers × two capacity factors × three seeds, less one combination
        preset: tiny
        set:
          epochs: 1
          data.trainLimit: 256
        grid:
          model.router: [switch, top-2]
          model.routerOptions.trainingCapacityFactor: [1.0, 2.0]
        seeds: 3
        exclude:
          - {model.router: top-2, model.routerOptions.trainingCapacityFactor: 2.0}
        """

    func expand(_ text: String, file: String = "spec.yaml") throws -> [SweepRun] {
        try SweepPlan.expand(try SweepSpec.parse(text, file: file))
    }

    /// The error `text` gives, as "file: location: message".
    func error(_ text: String, file: String = "spec.yaml") -> String {
        do {
            _ = try expand(text, file: file)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testGridTimesSeedsLessExclusions() throws {
        let runs = try expand(Self.grid)
        XCTAssertEqual(runs.count, 9, "2 × 2 × 3 = 12, less the 3 seeds of top-2 at capacity 2.0")
        XCTAssertEqual(runs.map(\.index), Array(0..<9))
        XCTAssertEqual(runs[0].label, "model.router=switch, model.routerOptions.trainingCapacityFactor=1.0, seed=0")
        XCTAssertEqual(runs[0].configuration.model.router, "switch")
        XCTAssertEqual(runs[0].configuration.model.routerOptions["trainingCapacityFactor"], "1.0")
        XCTAssertEqual(runs[0].configuration.epochs, 1)
        XCTAssertEqual(runs[0].configuration.data.trainLimit, 256)
        XCTAssertEqual(runs[0].configuration.preset, "tiny")
        XCTAssertEqual(runs.map(\.configuration.seed), [0, 1, 2, 0, 1, 2, 0, 1, 2])
        XCTAssertFalse(runs.contains { $0.configuration.model.router == "top-2" && $0.configuration.model.routerOptions["trainingCapacityFactor"] == "2.0" })
        XCTAssertEqual(Set(runs.map(\.id)).count, 9)
        XCTAssertEqual(runs[4].command, "switchyard train --config configs/\(runs[4].id).json --out runs/\(runs[4].id)")
    }

    func testJSONSpecsAreReadToo() throws {
        let json = """
            {
              "preset": "tiny",
              "set": {"epochs": 1},
              "grid": {"model.router": ["switch", "expert-choice"]},
              "seeds": {"from": 5, "count": 2}
            }
            """
        let runs = try expand(json, file: "spec.json")
        XCTAssertEqual(runs.map(\.configuration.seed), [5, 6, 5, 6])
        XCTAssertEqual(runs.map(\.configuration.model.router), ["switch", "switch", "expert-choice", "expert-choice"])
        XCTAssertEqual(error(#"{"preset": "tiny", "grid": {"model.router": ["switch",]}, "epochs": 1}"#, file: "spec.json"),
                       "spec.json: line 1: unknown key 'epochs'; a spec has preset, config, set, grid, variants, seeds, exclude")
        XCTAssertTrue(error("{\n  \"preset\": \"tiny\",\n  \"grid\": {\"model.router\": [\"switch\"}\n}", file: "spec.json")
            .hasPrefix("spec.json: line 3: not valid YAML or JSON"), error("{\n  \"grid\": {\"model.router\": [\"switch\"}\n}", file: "spec.json"))
    }

    func testIdsDependOnTheConfigurationNotTheSpecsOrder() throws {
        let reordered = """
            seeds: [0, 1, 2]
            exclude:
              - {model.routerOptions.trainingCapacityFactor: 2.0, model.router: top-2}
            grid:
              model.routerOptions.trainingCapacityFactor: [2.0, 1.0]
              model.router: [top-2, switch]
            set:
              data.trainLimit: 256
              epochs: 1
            preset: tiny
            """
        let a = try expand(Self.grid), b = try expand(reordered)
        XCTAssertEqual(Set(a.map(\.id)), Set(b.map(\.id)))
        XCTAssertNotEqual(a.map(\.id), b.map(\.id), "the order of runs follows the spec")
        // The same configuration reached through a variant instead of the grid gets the same id.
        let variant = try expand("""
            preset: tiny
            set: {epochs: 1, data.trainLimit: 256}
            variants:
              - {model.routerOptions.trainingCapacityFactor: 1.0, model.router: switch}
            seeds: [0]
            """)
        XCTAssertEqual(variant[0].id, a[0].id)
    }

    func testIdLeavesOutThreadsOnly() throws {
        var c = Presets.tiny
        let id = RunID.of(c)
        c.threads = 7
        XCTAssertEqual(RunID.of(c), id, "threads change how a run is computed, not the experiment")
        c.seed = 1
        XCTAssertNotEqual(RunID.of(c), id)
        c.seed = 0
        c.model.routerOptions = ["a": "1", "b": "2"]
        let withOptions = RunID.of(c)
        c.model.routerOptions = ["b": "2", "a": "1"]
        XCTAssertEqual(RunID.of(c), withOptions)
        XCTAssertEqual(id.count, 16)
        XCTAssertTrue(id.allSatisfy(\.isHexDigit))
        // A recorded id: the hash must stay the same across versions, or finished sweeps would be rerun.
        XCTAssertEqual(RunID.of(Presets.tiny), "b8de51fb823a32c1")
    }

    func testErrorsNameTheSpecsLine() {
        XCTAssertEqual(error("preset: tiny\ngrid:\n  model.router: [switch]\nsed: [1]\n"),
                       "spec.yaml: line 4: unknown key 'sed'; a spec has preset, config, set, grid, variants, seeds, exclude")
        XCTAssertEqual(error("preset: tiny\ngrid: {}\n"),
                       "spec.yaml: line 2: grid: the grid is empty; give at least one path with a list of values, or leave grid out")
        XCTAssertEqual(error("preset: tiny\ngrid:\n  model.router: []\n"),
                       "spec.yaml: line 3: grid.model.router: the list of values is empty")
        XCTAssertEqual(error("preset: tiny\ngrid:\n  model.router: switch\n"),
                       "spec.yaml: line 3: grid.model.router: expected a list of values, e.g. [a, b]")
        XCTAssertEqual(error("preset: tiny\nset:\n  epochs: 1\n  epochs: 2\n"),
                       "spec.yaml: line 4: set: 'epochs' is given twice (first on line 3)")
        XCTAssertEqual(error("preset: tiny\ngrid:\n  model.router: [switch, switch]\n"),
                       "spec.yaml: line 3: grid.model.router: 'switch' is listed twice")
        XCTAssertEqual(error("preset: tiny\nset:\n  model.widht: 64\n"),
                       "spec.yaml: line 3: unknown option 'model.widht'; known here: classes, classifierHidden, depth, dropout, expertHidden, experts, heads, imageChannels, imageSize, moeEvery, patchSize, router, routerOptions, width")
        XCTAssertEqual(error("preset: tiny\ngrid:\n  epochs: [1, 0]\n"),
                       "spec.yaml: line 3: epochs: 0 is not allowed; expected at least 1")
        XCTAssertEqual(error("preset: tiny\nset:\n  data.flip: maybe\n"),
                       "spec.yaml: line 3: data.flip = maybe: expected true or false")
        XCTAssertEqual(error("preset: tiny\ngrid:\n  model.router: [switch, no-such-router]\n"),
                       "spec.yaml: line 3: model.router: router no-such-router: name = no-such-router is not allowed; expected one of: dense, random-token, random-batch, noisy-top-k, switch, expert-choice, top-2, loss-free, top-p, sinkhorn, remoe, top-k, hash, deepseek-moe, base, xmoe, soft-moe")
        XCTAssertEqual(error("preset: tiny\nset:\n  seed: 3\n"),
                       "spec.yaml: line 3: seed: give the seeds with the top-level key seeds, e.g. seeds: [0, 1, 2]")
        XCTAssertEqual(error("preset: tiny\nseeds: [0, -1]\n"),
                       "spec.yaml: line 2: seeds: '-1' is not a seed (a whole number 0 or more)")
        XCTAssertEqual(error("preset: nope\n").prefix(40), "spec.yaml: preset: --preset: no preset n")
        XCTAssertEqual(error(""), "spec.yaml: the spec is empty; see docs/sweeps.md for its format")
        XCTAssertEqual(error("preset: tiny\ngrid:\n  model.router: [switch\n").prefix(46),
                       "spec.yaml: line 4: not valid YAML or JSON: did")
    }

    func testRouterOptionsAreCheckedWithTheirOwnRouter() throws {
        // Options the base preset's router (switch) does not have, given with the variant's router.
        let runs = try expand("""
            preset: tiny
            variants:
              - {model.router: expert-choice, model.routerOptions.capacityFactor: 1.0}
              - {model.router: top-k, model.routerOptions.k: 1, model.routerOptions.renormalize: false}
            seeds: [0]
            """)
        XCTAssertEqual(runs.map(\.configuration.model.router), ["expert-choice", "top-k"])
        XCTAssertEqual(runs[1].configuration.model.routerOptions, ["k": "1", "renormalize": "false"])
        // An option for every run, given once in `set`, with the routers chosen by the variants.
        XCTAssertEqual(try expand("preset: tiny\nset: {model.routerOptions.k: 2}\nvariants:\n  - {model.router: top-k}\n  - {model.router: loss-free}\n").map { $0.configuration.model.routerOptions["k"] }, ["2", "2"])
        // Options that are valid only together (loss-free refuses k = 1 with renormalised sigmoid scores).
        XCTAssertEqual(try expand("preset: tiny\nvariants:\n  - {model.router: loss-free, model.routerOptions.k: 1, model.routerOptions.renormalize: false}\n").count, 1)
        XCTAssertTrue(error("preset: tiny\nvariants:\n  - {model.router: loss-free, model.routerOptions.k: 1}\n")
                        .hasPrefix("spec.yaml: line 3: model.routerOptions.renormalize: router loss-free: k = 1 with renormalised sigmoid"))
        // Options of the grid's routers, checked run by run.
        XCTAssertEqual(try expand("preset: tiny\ngrid:\n  model.router: [top-k, deepseek-moe]\n  model.routerOptions.k: [1, 2]\n").count, 4)
        // An option the variant's router lacks still names its line.
        XCTAssertEqual(error("preset: tiny\nvariants:\n  - {model.router: top-p}\n  - {model.router: top-k, model.routerOptions.threshold: 0.5}\n"),
                       "spec.yaml: line 4: model.routerOptions.threshold: router top-k: unknown option 'threshold'; known here: balanceLossWeight, deviceGroups, deviceLossWeight, k, renormalize, score")
        XCTAssertEqual(error("preset: tiny\ngrid:\n  model.router: [top-k, switch]\n  model.routerOptions.k: [1]\n"),
                       "spec.yaml: line 4: model.routerOptions.k: router switch: unknown option 'k'; known here: balanceLossWeight, batchPrioritized, evaluationCapacityFactor, jitter, trainingCapacityFactor, zLossWeight")
    }

    func testDuplicateRunsAndUselessExclusionsAreErrors() {
        XCTAssertEqual(error("""
            preset: tiny
            grid:
              model.router: [switch]
            variants:
              - {epochs: 2}
              - {epochs: 2.0}
            """), "spec.yaml: line 6: model.router=switch, epochs=2.0, seed=0 gives the same configuration as a run from line 5 (id \(RunID.of({ var c = Presets.tiny; c.epochs = 2; return c }()))); every run of a sweep must differ")
        XCTAssertEqual(error("""
            preset: tiny
            grid:
              model.router: [switch, top-2]
            exclude:
              - {model.router: dense}
            """), "spec.yaml: line 5: exclude: this entry matches no run; check its paths and values")
        XCTAssertEqual(error("""
            preset: tiny
            grid:
              model.router: [switch]
            exclude:
              - {model.router: switch}
            """), "spec.yaml: every run is excluded; the sweep is empty")
        XCTAssertEqual(error("""
            preset: tiny
            grid:
              model.router: [switch]
            variants:
              - {model.router: top-2}
            """), "spec.yaml: line 5: model.router is both a grid axis and set by a variant; give it in one place")
    }
}
