import XCTest
@testable import SwitchyardFileIO
import SwitchyardRouting
@testable import SwitchyardTraces
import SwitchyardTensorCore
@testable import SwitchyardTraining

/// `soft-moe` in real training runs: the loss falls, same seed same numbers, resume is bit for
/// bit, and step records and traces follow the soft statistics rule (one record per token: its
/// expert of largest combine mass).
final class SoftMoETrainingTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-softmoe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// `tiny` (17 tokens per image, 4 experts) on 768 training and 96 test images, batch 32: 24 steps an epoch.
    func configuration(epochs: Int = 1, options: [String: String] = [:]) throws -> TrainingConfiguration {
        var c = try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [
            ("model.router", "soft-moe"), ("data.trainLimit", "768"), ("data.testLimit", "96"),
            ("batchSize", "32"), ("epochs", String(epochs)), ("threads", "1"), ("logEvery", "4"),
        ])
        c.model.routerOptions = options
        return c
    }

    func testTinyLearnsWithTheSameNumbersForTheSameSeedAndRecordsOneExpertPerToken() throws {
        let a = try Trainer(configuration: configuration(), runDirectory: root + "/a", quiet: true).run()
        let b = try Trainer(configuration: configuration(), runDirectory: root + "/b", quiet: true).run()
        let steps = try MetricsLog.read(StepRecord.self, from: root + "/a/metrics.jsonl")
        let early = steps.prefix(2).map(\.crossEntropy).reduce(0, +) / 2
        let late = steps.suffix(2).map(\.crossEntropy).reduce(0, +) / 2
        XCTAssertLessThan(late, early - 0.3, "the loss must fall: \(early) → \(late)")
        XCTAssertEqual(steps.map(\.loss), try MetricsLog.read(StepRecord.self, from: root + "/b/metrics.jsonl").map(\.loss))
        XCTAssertEqual(a.testAccuracy, b.testAccuracy)
        // The model gave the router its tokens per image: p = round(17/4) = 4 slots per expert.
        XCTAssertEqual(a.routerOptions["tokensPerImage"], "17")
        XCTAssertEqual(a.routerTraits?["router.soft"], "true")
        XCTAssertEqual(a.routingRecord, RoutingPlan.softRecordRule, "the summary states what the records count")
        XCTAssertTrue(try String(contentsOfFile: root + "/a/summary.json", encoding: .utf8).contains("largest combine mass"))
        let trainer = try Trainer(configuration: configuration(), runDirectory: root + "/c", quiet: true)
        let router = try XCTUnwrap(trainer.model.moeLayers.first?.layer.router as? SoftMoERouter)
        XCTAssertEqual(router.slotsPerExpert, 4)
        XCTAssertEqual(router.phi.value.shape, [32, 16])
        // Step records: every token counted once at its largest-mass expert, none dropped, no auxiliary loss.
        for record in steps {
            XCTAssertEqual(record.droppedTokens, [0, 0])
            XCTAssertEqual(record.auxiliaryLoss, 0)
            for layer in record.tokensPerExpert { XCTAssertEqual(layer.reduce(0, +), 32 * 17) }
        }
        // The trace: exactly one record per token and layer, weighted by its mass, which is the
        // largest of the token's recorded per-expert masses (its probabilities, rows summing to 1).
        let epochs = try MetricsLog.read(EpochRecord.self, from: root + "/a/epochs.jsonl")
        let trace = try RoutingTraceFile.read(root + "/a/" + XCTUnwrap(epochs.last?.trace))
        XCTAssertEqual(trace.tokenCount, 96 * 17)
        XCTAssertEqual(trace.metadata["router.soft"], "true")
        for layer in trace.layers {
            XCTAssertEqual(zip(layer.offsets.dropFirst(), layer.offsets).map { $0 - $1 }, [Int32](repeating: 1, count: 96 * 17))
            let p = try XCTUnwrap(layer.probabilities)
            for t in 0..<trace.tokenCount {
                let row = p[t * 4 ..< t * 4 + 4]
                XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-4)
                XCTAssertEqual(layer.weights[t], row.max()!)
                XCTAssertEqual(Float(row[t * 4 + Int(layer.experts[t])]), row.max()!)
                XCTAssertEqual(layer.preferredExpert?[t], layer.experts[t])
            }
            XCTAssertNil(layer.capacity)
        }
    }

    func testResumingFromAnEpochCheckpointIsBitIdentical() throws {
        let config = try configuration(epochs: 2, options: ["slotsPerExpert": "2"])
        try Trainer(configuration: config, runDirectory: root + "/full", quiet: true).run()
        let partial = root + "/partial"
        try FileManager.default.createDirectory(atPath: partial + "/checkpoints", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/full/checkpoints/epoch-1.ckpt", toPath: partial + "/checkpoints/epoch-1.ckpt")
        try Trainer(configuration: config, runDirectory: partial, resume: true, quiet: true).run()
        let uninterrupted = try Checkpoint.read(root + "/full/checkpoints/epoch-2.ckpt")
        let resumed = try Checkpoint.read(partial + "/checkpoints/epoch-2.ckpt")
        XCTAssertEqual(resumed.header.step, uninterrupted.header.step)
        XCTAssertEqual(resumed.header.arrays, uninterrupted.header.arrays)
        XCTAssertTrue(uninterrupted.header.arrays.contains { $0.name.hasSuffix("router.phi") }, "Φ is checkpointed")
        XCTAssertTrue(uninterrupted.header.arrays.contains { $0.name.hasSuffix("router.scale") }, "the scale is checkpointed")
        for (a, b) in zip(resumed.arrays, uninterrupted.arrays) {
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        }
    }
}
