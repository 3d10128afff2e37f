import XCTest
@testable import SwitchyardTraces
import SwitchyardTensorCore
@testable import SwitchyardTraining

/// A short training run with a sigmoid-gated shared expert: what
/// `switchyard train --preset tiny --set model.sharedExperts=1 --set model.sharedExpertGate=sigmoid
/// --epochs 1 --set data.trainLimit=256 --set data.testLimit=64` does, through the Trainer.
final class SharedExpertsTrainingTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-shared-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func configuration(_ extra: [(String, String)]) throws -> TrainingConfiguration {
        try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [
            ("epochs", "1"), ("data.trainLimit", "256"), ("data.testLimit", "64"), ("threads", "1"),
        ] + extra)
    }

    func testOptionalModelFieldsCanBeSetAndAreChecked() throws {
        // Absent optionals (nil encodes as no key) are settable with --set; typos still are not.
        let c = try configuration([("model.sharedExperts", "2"), ("model.sharedExpertHidden", "48"),
                                   ("model.sharedExpertGate", "none"), ("model.routingGroupImages", "4")])
        XCTAssertEqual(c.model.sharedExperts, 2)
        XCTAssertEqual(c.model.sharedExpertHidden, 48)
        XCTAssertEqual(c.model.sharedExpertGate, "none")
        XCTAssertEqual(c.model.routingGroupImages, 4)
        XCTAssertNil(try configuration([]).model.sharedExperts)
        func message(_ settings: [(String, String)]) -> String {
            do { _ = try configuration(settings); return "no error" } catch { return "\(error)" }
        }
        let typo = message([("model.sharedExpert", "1")])
        XCTAssertTrue(typo.contains("unknown option 'model.sharedExpert'"), typo)
        XCTAssertTrue(typo.contains("expertHidden"), "lists the known fields: \(typo)")
        let gate = message([("model.sharedExperts", "1"), ("model.sharedExpertGate", "relu")])
        XCTAssertTrue(gate.contains("model.sharedExpertGate") && gate.contains("'relu'") && gate.contains("'sigmoid'"), gate)
        let count = message([("model.sharedExperts", "-2")])
        XCTAssertTrue(count.contains("model.sharedExperts") && count.contains("-2") && count.contains("0 (none) to 64"), count)
        let type = message([("model.sharedExperts", "two")])
        XCTAssertTrue(type.contains("model.sharedExperts=two") && type.contains("type"), type)
    }

    func testTinyRunWithASigmoidGatedSharedExpertTrainsAndKeepsItOutOfRouting() throws {
        let plainDir = root + "/plain", sharedDir = root + "/shared"
        let plain = try Trainer(configuration: configuration([]), runDirectory: plainDir, quiet: true).run()
        let config = try configuration([("model.sharedExperts", "1"), ("model.sharedExpertGate", "sigmoid")])
        XCTAssertEqual(config.model.sharedExperts, 1)
        XCTAssertEqual(config.model.sharedExpertGate, "sigmoid")
        let summary = try Trainer(configuration: config, runDirectory: sharedDir, quiet: true).run()

        // 256 images in batches of 64: 4 steps, every loss finite.
        XCTAssertEqual(summary.steps, 4)
        let steps = try MetricsLog.read(StepRecord.self, from: sharedDir + "/metrics.jsonl")
        XCTAssertFalse(steps.isEmpty)
        XCTAssertTrue(steps.allSatisfy { $0.loss.isFinite && $0.gradientNorm.isFinite })
        XCTAssertTrue(summary.testAccuracy.isFinite)

        // One shared FFN d → h → d and a gate vector per MoE block, counted as parameters.
        let m = config.model
        let moeBlocks = (0..<m.depth).filter(m.isMoEBlock).count
        let perShared = 2 * m.width * m.expertHidden + m.expertHidden + m.width + m.width
        XCTAssertEqual(summary.parameterCount - plain.parameterCount, moeBlocks * perShared)
        XCTAssertEqual(summary.evaluationParameterCount - plain.evaluationParameterCount, moeBlocks * perShared)

        // Checkpointed with their AdamW moments under <layer>.shared.0.…
        let checkpoint = try Checkpoint.read(sharedDir + "/checkpoints/epoch-1.ckpt")
        let names = Set(checkpoint.header.arrays.map(\.name))
        for b in (0..<m.depth).filter(m.isMoEBlock) {
            for suffix in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "gate"] {
                XCTAssertTrue(names.contains("blocks.\(b).mlp.shared.0.\(suffix)"), "blocks.\(b).mlp.shared.0.\(suffix)")
            }
            XCTAssertEqual(checkpoint.array(named: "blocks.\(b).mlp.shared.0.gate")?.count, m.width)
            XCTAssertTrue(names.contains("adam.m.blocks.\(b).mlp.shared.0.gate"))
        }

        // Load statistics and traces see only the routed experts: switch, one expert per kept token.
        let tokensPerBatch = 64 * m.tokensPerImage
        for record in steps {
            for (layer, dropped) in zip(record.tokensPerExpert, record.droppedTokens) {
                XCTAssertEqual(layer.count, m.experts)
                XCTAssertEqual(layer.reduce(0, +) + dropped, tokensPerBatch)
            }
        }
        let epochs = try MetricsLog.read(EpochRecord.self, from: sharedDir + "/epochs.jsonl")
        let trace = try RoutingTraceFile.read(sharedDir + "/" + XCTUnwrap(epochs.last?.trace))
        XCTAssertEqual(trace.tokenCount, 64 * m.tokensPerImage)
        for layer in trace.layers { XCTAssertTrue(layer.experts.allSatisfy { $0 >= 0 && Int($0) < m.experts }) }
        // The trace records the shared experts beside the routed ones (their gates it does not hold).
        XCTAssertEqual(trace.metadata[RoutingTrace.sharedExpertCountKey], String(m.sharedExpertCount))
        XCTAssertEqual(trace.metadata[RoutingTrace.sharedExpertGateKey], "sigmoid")
        let plainTrace = try RoutingTraceFile.read(plainDir + "/" + XCTUnwrap(
            MetricsLog.read(EpochRecord.self, from: plainDir + "/epochs.jsonl").last?.trace))
        XCTAssertNil(plainTrace.metadata[RoutingTrace.sharedExpertCountKey])
    }
}
