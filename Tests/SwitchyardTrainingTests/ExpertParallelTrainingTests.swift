import XCTest
@testable import SwitchyardFileIO
import SwitchyardParallelism
@testable import SwitchyardTraces
import SwitchyardTensorCore
@testable import SwitchyardTraining

/// Expert parallelism's trainer side on one process (the MPI runs are ExpertParallelMPITests').
final class ExpertParallelTrainingTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-ep-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func configuration(router: String, settings: [(String, String)] = []) throws -> TrainingConfiguration {
        try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [
            ("model.router", router), ("data.trainLimit", "320"), ("data.testLimit", "100"),
            ("batchSize", "32"), ("epochs", "1"), ("threads", "1"), ("logEvery", "1"), ("model.routingGroupImages", "16"),
        ] + settings)
    }

    /// With one process the expert-parallel path (dispatcher, gradient sums, global facts, plan
    /// gathering, checkpoint broadcasts) must give the plain trainer's numbers bit for bit, for
    /// routers that draw no random numbers (per-token draws come from a per-rank stream).
    func testOneProcessEqualsThePlainTrainerBitForBit() throws {
        for router in ["switch", "loss-free", "expert-choice"] {
            let config = try configuration(router: router)
            try Trainer(configuration: config, runDirectory: root + "/\(router)-plain", quiet: true).run()
            try Trainer(configuration: config, runDirectory: root + "/\(router)-ep", quiet: true, communicator: SingleProcess()).run()
            let plain = try MetricsLog.read(StepRecord.self, from: root + "/\(router)-plain/metrics.jsonl")
            let ep = try MetricsLog.read(StepRecord.self, from: root + "/\(router)-ep/metrics.jsonl")
            XCTAssertEqual(plain.count, 10)
            XCTAssertEqual(plain.map(\.loss.bitPattern), ep.map(\.loss.bitPattern), router)
            XCTAssertEqual(plain.map(\.gradientNorm.bitPattern), ep.map(\.gradientNorm.bitPattern), router)
            XCTAssertEqual(plain.map(\.tokensPerExpert), ep.map(\.tokensPerExpert), router)
            let a = try Checkpoint.read(root + "/\(router)-plain/checkpoints/epoch-1.ckpt")
            let b = try Checkpoint.read(root + "/\(router)-ep/checkpoints/epoch-1.ckpt")
            XCTAssertEqual(a.header.arrays, b.header.arrays)
            let differing = zip(a.header.arrays, zip(a.arrays, b.arrays)).filter { $1.0.map(\.bitPattern) != $1.1.map(\.bitPattern) }
            XCTAssertEqual(differing.map(\.0.name), [], router)
            let ta = try RoutingTraceFile.read(root + "/\(router)-plain/traces/epoch-1.sytrace")
            var tb = try RoutingTraceFile.read(root + "/\(router)-ep/traces/epoch-1.sytrace")
            XCTAssertEqual(tb.metadata["expertParallelProcesses"], "1")
            tb.metadata["expertParallelProcesses"] = nil
            XCTAssertEqual(ta, tb, router)
        }
    }

    func testUnsupportedSetupsAreRefusedNamingTheField() throws {
        func refusal(_ config: TrainingConfiguration, ranks: Int) -> InputError? {
            do {
                _ = try Trainer(configuration: config, runDirectory: root + "/x", quiet: true,
                                communicator: SetupOnly(size: ranks))
                return nil
            } catch { return error as? InputError }
        }
        let threeRanks = try XCTUnwrap(refusal(configuration(router: "top-2", settings: [("batchSize", "36"), ("model.routingGroupImages", "12")]), ranks: 3))
        XCTAssertEqual(threeRanks.location, "model.experts")
        XCTAssertTrue(threeRanks.message.contains("4 experts cannot be shared evenly by 3 processes"), threeRanks.message)
        XCTAssertTrue(threeRanks.message.contains("(1, 2, 4)"), threeRanks.message)
        let batch = try XCTUnwrap(refusal(configuration(router: "top-2", settings: [("batchSize", "30"), ("model.routingGroupImages", "15")]), ranks: 4))
        XCTAssertEqual(batch.location, "batchSize")
        let groups = try XCTUnwrap(refusal(configuration(router: "top-2"), ranks: 4))
        XCTAssertEqual(groups.location, "model.routingGroupImages")
        XCTAssertTrue(groups.message.contains("16 images per routing group do not divide a process's 8 images"), groups.message)
        XCTAssertTrue(groups.message.contains("this run can use at most 2 processes"), groups.message)
        let unset = try XCTUnwrap(refusal(configuration(router: "top-2", settings: [("model.routingGroupImages", "0")]), ranks: 2))
        XCTAssertEqual(unset.location, "model.routingGroupImages")
        XCTAssertTrue(unset.message.contains("is unset"), unset.message)
        let soft = try XCTUnwrap(refusal(configuration(router: "soft-moe"), ranks: 2))
        XCTAssertTrue(soft.message.contains("soft plans"), soft.message)
        let merged = try XCTUnwrap(refusal(configuration(router: "random-batch"), ranks: 2))
        XCTAssertTrue(merged.message.contains("averages its experts"), merged.message)
        XCTAssertNil(refusal(try configuration(router: "top-2"), ranks: 2), "2 processes share 4 experts and 32 images")
    }
}

/// A communicator for checks that fail before any collective.
private final class SetupOnly: Communicator {
    let size: Int
    init(size: Int) { self.size = size }
    var rank: Int { 0 }
    func allGather(_ values: UnsafePointer<Float>, count: Int, into received: UnsafeMutablePointer<Float>) { fatalError("no collectives") }
    func allGather(_ values: UnsafePointer<Int64>, count: Int, into received: UnsafeMutablePointer<Int64>) { fatalError("no collectives") }
    func allGather(_ values: UnsafePointer<Double>, count: Int, into received: UnsafeMutablePointer<Double>) { fatalError("no collectives") }
    func allToAll(_ send: UnsafePointer<Float>, sendCounts: [Int], sendOffsets: [Int], receive: UnsafeMutablePointer<Float>,
                  receiveCounts: [Int], receiveOffsets: [Int]) { fatalError("no collectives") }
    func allToAll(_ send: UnsafePointer<Int64>, count: Int, receive: UnsafeMutablePointer<Int64>) { fatalError("no collectives") }
    func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, root: Int) { fatalError("no collectives") }
    func barrier() { fatalError("no collectives") }
}
