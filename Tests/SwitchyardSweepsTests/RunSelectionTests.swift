import Foundation
import XCTest
import SwitchyardFileIO
@testable import SwitchyardSweeps

/// `sweep report --only/--skip` select runs by their resolved configuration, and refuse a
/// selection that names a path or value no run has.
final class RunSelectionTests: XCTestCase {
    static let spec = """
        preset: tiny
        set: {epochs: 1}
        variants:
          - {model.router: switch}
          - {model.router: switch, model.routerOptions.trainingCapacityFactor: 2.0}
          - {model.router: dense}
          - {model.router: top-2, model.experts: 8}
        seeds: 3
        exclude:
          - {model.router: dense, seed: [1, 2]}
        """

    func runs() throws -> [SweepRun] { try SweepPlan.expand(try SweepSpec.parse(Self.spec, file: "spec.yaml")) }

    func labels(only: [String] = [], skip: [String] = []) throws -> [String] {
        try RunSelection(only: only, skip: skip).apply(to: runs(), file: "m.jsonl").map(\.label)
    }

    func error(only: [String] = [], skip: [String] = []) -> String {
        do { _ = try labels(only: only, skip: skip); return "no error" } catch { return "\(error)" }
    }

    func testExclusionsMayNameSeeds() throws {
        let all = try runs()
        XCTAssertEqual(all.count, 10, "4 variants × 3 seeds, less dense's seeds 1 and 2")
        XCTAssertEqual(all.filter { $0.configuration.model.router == "dense" }.map(\.configuration.seed), [0])
    }

    func testOnlyAndSkipSelectByTheResolvedConfiguration() throws {
        XCTAssertEqual(try labels().count, 10)
        XCTAssertEqual(try labels(only: ["model.router=dense,top-2"]),
                       ["model.router=dense, seed=0", "model.router=top-2, model.experts=8, seed=0",
                        "model.router=top-2, model.experts=8, seed=1", "model.router=top-2, model.experts=8, seed=2"])
        // The preset's own expert count matches although no spec line sets it; 2 matches 2.0.
        XCTAssertEqual(try labels(only: ["model.experts=4", "seed=0"]).count, 3)
        XCTAssertEqual(try labels(only: ["model.routerOptions.trainingCapacityFactor=2"]).count, 3)
        // A run without the router option is not matched by it, so --skip keeps it.
        XCTAssertEqual(try labels(only: ["model.router=switch"], skip: ["model.routerOptions.trainingCapacityFactor=2.0"]),
                       ["model.router=switch, seed=0", "model.router=switch, seed=1", "model.router=switch, seed=2"])
    }

    func testRouterOptionsLeftUnsetMatchTheValueTheRouterResolved() throws {
        // top-2 resolves its k to 2 and switch has no k: --skip k=2 keeps switch and dense only.
        let resolved: (SweepRun) -> [String: String] = { $0.configuration.model.router == "top-2" ? ["k": "2"] : [:] }
        let kept = try RunSelection(only: [], skip: ["model.routerOptions.k=2"]).apply(to: runs(), file: "m.jsonl", routerOptions: resolved)
        XCTAssertEqual(Set(kept.map(\.configuration.model.router)), ["switch", "dense"])
        // Conditions in one argument must all hold: only top-2 at its resolved k = 2 is left out.
        let both = try RunSelection(only: [], skip: ["model.router=top-2  model.routerOptions.k=2"])
            .apply(to: runs(), file: "m.jsonl", routerOptions: resolved)
        XCTAssertEqual(Set(both.map(\.configuration.model.router)), ["switch", "dense"])
        XCTAssertThrowsError(try RunSelection(only: [], skip: ["model.router=switch model.routerOptions.k=2"])
            .apply(to: runs(), file: "m.jsonl", routerOptions: resolved)) { error in
            XCTAssertEqual("\(error)", "m.jsonl: --skip: no run has all of 'model.router=switch model.routerOptions.k=2'",
                           "switch has no k: an entry that holds for no run is a mistake")
        }
        // An option the configuration sets is not overridden by the resolved one.
        let set: (SweepRun) -> [String: String] = { _ in ["trainingCapacityFactor": "1.25"] }
        XCTAssertEqual(try RunSelection(only: ["model.routerOptions.trainingCapacityFactor=2"], skip: [])
            .apply(to: runs(), file: "m.jsonl", routerOptions: set).count, 3)
    }

    func testSelectionsThatCannotMeanWhatTheySayAreRefused() {
        XCTAssertEqual(error(only: ["model.rooter=switch"]),
                       "m.jsonl: --only: no run has 'model.rooter'; the paths are those of a run's config.json, e.g. model.router, model.routerOptions.k, seed")
        XCTAssertEqual(error(skip: ["model.router=swich"]),
                       "m.jsonl: --skip: no run has model.router=swich; the sweep has dense, switch, top-2")
        XCTAssertEqual(error(only: ["model.router"]), "--only: 'model.router' is not PATH=VALUE[,VALUE…] (e.g. model.router=switch,top-2)")
        XCTAssertEqual(error(only: ["seed=0,"]), "--only: 'seed=0,' has an empty value")
        XCTAssertEqual(error(skip: [" "]), "--skip: an empty selection")
        XCTAssertEqual(error(only: ["model.router=dense"], skip: ["seed=0"]), "m.jsonl: --only/--skip: no run of the sweep is left")
    }
}
