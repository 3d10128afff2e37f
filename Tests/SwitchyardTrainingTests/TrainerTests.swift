import XCTest
@testable import SwitchyardFileIO
@testable import SwitchyardTraces
import SwitchyardTensorCore
@testable import SwitchyardTraining

/// Short real training runs on the committed Fashion-MNIST subset.
final class TrainerTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-train-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// The `tiny` preset cut to 1,024 training and 200 test images, batch 32: 32 steps an epoch.
    func configuration(router: String, epochs: Int = 2) throws -> TrainingConfiguration {
        try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [
            ("model.router", router), ("data.trainLimit", "1024"), ("data.testLimit", "200"),
            ("batchSize", "32"), ("epochs", String(epochs)), ("threads", "1"), ("logEvery", "4"),
        ])
    }

    func testTinyRunLearnsAndWritesTheRunDirectory() throws {
        let dir = root + "/ec"
        let summary = try Trainer(configuration: configuration(router: "expert-choice"), runDirectory: dir, quiet: true).run()
        let steps = try MetricsLog.read(StepRecord.self, from: dir + "/metrics.jsonl")
        XCTAssertEqual(steps.last?.step, 64)
        let early = steps.prefix(3).map(\.crossEntropy).reduce(0, +) / 3
        let late = steps.suffix(3).map(\.crossEntropy).reduce(0, +) / 3
        XCTAssertLessThan(late, early - 0.5, "the loss must fall: \(early) → \(late)")
        XCTAssertGreaterThan(summary.testAccuracy, 0.45, "chance is 0.10")
        XCTAssertEqual(summary.steps, 64)
        XCTAssertEqual(summary.perClassAccuracy.count, 10)
        // Expert Choice: every expert took exactly k = ⌈n·2/4⌉ tokens in every logged step.
        let n = 32 * 17
        for record in steps { for layer in record.tokensPerExpert { XCTAssertEqual(layer, [Int](repeating: n / 2, count: 4)) } }
        let epochs = try MetricsLog.read(EpochRecord.self, from: dir + "/epochs.jsonl")
        XCTAssertEqual(epochs.map(\.epoch), [1, 2])
        let trace = try RoutingTraceFile.read(dir + "/" + epochs[1].trace!)
        XCTAssertEqual(trace.tokenCount, 200 * 17)
        XCTAssertEqual(trace.layers.count, 2)
        XCTAssertEqual(trace.labels?.count, 200 * 17)
        XCTAssertEqual(trace.positions?.prefix(17).map { Int($0) }, Array(0..<17))
        // Expert Choice fills its capacity exactly: ⌈n·2/4⌉ per batch, summed over the batches.
        let capacity = 6 * (32 * 17 / 2) + (8 * 17 / 2)
        XCTAssertEqual(trace.layers[0].capacity, capacity)
        // Each test batch is one routing group: 6 of 32 images and one of 8.
        XCTAssertEqual(trace.routingGroups, [Int](repeating: 32 * 17, count: 6) + [8 * 17])
        for e in 0..<4 { XCTAssertEqual(trace.layers[1].experts.filter { $0 == Int32(e) }.count, capacity) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/checkpoints/epoch-2.ckpt"))
        let written = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(written, summary)
        XCTAssertEqual(written.blasKernels, BLASKernels.summary, "the kernel set that ran the GEMMs is recorded")
        XCTAssertEqual(written.threads, 1)
        XCTAssertNil(written.routingRecord, "only soft routers state a record rule")
        // The process's peak memory: at least the model's parameters (and a sane upper bound).
        let peak = try XCTUnwrap(written.peakMemoryMiB)
        XCTAssertGreaterThan(peak, Double(written.parameterCount * 4) / 1_048_576)
        XCTAssertLessThan(peak, 64 * 1024)
    }

    func testSummariesWrittenBeforeTheKernelSetWasRecordedStillDecode() throws {
        let old = """
        {"router":"switch","routerOptions":{},"preset":"tiny","seed":0,"epochs":1,"steps":8,"testAccuracy":0.5,
         "perClassAccuracy":[0.5],"classNames":["a"],"parameterCount":10,"evaluationParameterCount":10,
         "trainSeconds":1.5,"imagesPerSecond":100,"threads":2}
        """
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(old.utf8))
        XCTAssertNil(summary.blasKernels)
        XCTAssertEqual(summary.threads, 2)
        XCTAssertEqual(summary.steps, 8)
    }

    func testSameSeedSameNumbers() throws {
        let a = try Trainer(configuration: configuration(router: "top-2", epochs: 1), runDirectory: root + "/a", quiet: true).run()
        let b = try Trainer(configuration: configuration(router: "top-2", epochs: 1), runDirectory: root + "/b", quiet: true).run()
        XCTAssertEqual(a.testAccuracy, b.testAccuracy)
        let la = try MetricsLog.read(StepRecord.self, from: root + "/a/metrics.jsonl").map(\.loss)
        let lb = try MetricsLog.read(StepRecord.self, from: root + "/b/metrics.jsonl").map(\.loss)
        XCTAssertEqual(la, lb)
        var other = try configuration(router: "top-2", epochs: 1)
        other.seed = 1
        try Trainer(configuration: other, runDirectory: root + "/c", quiet: true).run()
        let lc = try MetricsLog.read(StepRecord.self, from: root + "/c/metrics.jsonl").map(\.loss)
        XCTAssertNotEqual(la, lc)
    }

    func testResumingFromAnEpochCheckpointIsBitIdentical() throws {
        let config = try configuration(router: "noisy-top-k")
        try Trainer(configuration: config, runDirectory: root + "/full", quiet: true).run()
        // A run that stopped after epoch 1: its directory holds only the first checkpoint.
        let partial = root + "/partial"
        try FileManager.default.createDirectory(atPath: partial + "/checkpoints", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/full/checkpoints/epoch-1.ckpt", toPath: partial + "/checkpoints/epoch-1.ckpt")
        try Trainer(configuration: config, runDirectory: partial, resume: true, quiet: true).run()
        let uninterrupted = try Checkpoint.read(root + "/full/checkpoints/epoch-2.ckpt")
        let resumed = try Checkpoint.read(partial + "/checkpoints/epoch-2.ckpt")
        XCTAssertEqual(resumed.header.step, uninterrupted.header.step)
        XCTAssertEqual(resumed.header.arrays, uninterrupted.header.arrays)
        for (a, b) in zip(resumed.arrays, uninterrupted.arrays) {
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        }
    }

    func testANonFiniteLossStopsTheRunNamingTheStepAndTheLayer() throws {
        var config = try configuration(router: "switch", epochs: 1)
        config.optimizer.learningRate = 1e30   // the first update sends the weights to ±∞
        XCTAssertThrowsError(try Trainer(configuration: config, runDirectory: root + "/nan", quiet: true).run()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("step 2"), text)
            XCTAssertTrue(text.contains("block 0") || text.contains("router of block") || text.contains("gradient of"), text)
            XCTAssertTrue(text.contains("last checkpoint is intact"), text)
        }
        XCTAssertTrue(Trainer.checkpoints(in: root + "/nan").isEmpty, "no checkpoint of the broken weights")
        // With the skip policy the same run goes on, skipping every step it cannot take (its
        // weights stay broken, so no trace: a trace of NaN combine weights is rightly refused).
        config.nonFinite = .skip
        config.traces = false
        let trainer = try Trainer(configuration: config, runDirectory: root + "/skip", quiet: true)
        try trainer.run()
        XCTAssertEqual(trainer.skippedSteps, 31, "every step after the first")
        XCTAssertEqual(try Checkpoint.read(root + "/skip/checkpoints/epoch-1.ckpt").header.counters["skippedSteps"], 31)
    }

    func testResumingWithoutAnyCheckpointStartsFromTheBeginning() throws {
        let config = try configuration(router: "switch", epochs: 1)
        let a = try Trainer(configuration: config, runDirectory: root + "/a", quiet: true).run()
        let b = try Trainer(configuration: config, runDirectory: root + "/b", resume: true, quiet: true).run()
        XCTAssertEqual(a.testAccuracy, b.testAccuracy)
        XCTAssertEqual(b.steps, 32)
    }

    func testCorruptCheckpointsAreRejected() throws {
        let dir = root + "/run"
        try Trainer(configuration: configuration(router: "switch", epochs: 1), runDirectory: dir, quiet: true).run()
        let path = dir + "/checkpoints/epoch-1.ckpt"
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        XCTAssertNoThrow(try Checkpoint.read(path))
        bytes[bytes.count / 2] ^= 0x40
        try AtomicFile.write(bytes, to: path)
        XCTAssertThrowsError(try Checkpoint.read(path)) { XCTAssertTrue("\($0)".contains("checksum"), "\($0)") }
        try AtomicFile.write(Array(bytes.prefix(100)), to: path)
        XCTAssertThrowsError(try Checkpoint.read(path)) { XCTAssertTrue("\($0)".contains(path), "\($0)") }
        XCTAssertThrowsError(try trainer(resuming: dir).restore(from: path), "restoring a corrupt checkpoint by name fails")
    }

    /// A trainer for a 1-epoch switch run (the configuration of the runs below).
    func trainer(resuming dir: String, epochs: Int = 1) throws -> Trainer {
        try Trainer(configuration: configuration(router: "switch", epochs: epochs), runDirectory: dir, resume: true, quiet: true)
    }

    /// Final weights of a run, bit patterns.
    func weights(_ dir: String, epoch: Int) throws -> [[UInt32]] {
        try Checkpoint.read(dir + "/checkpoints/epoch-\(epoch).ckpt").arrays.map { $0.map(\.bitPattern) }
    }

    func testResumeFallsBackToTheNewestIntactCheckpointCoveredByTheEpochLog() throws {
        let full = root + "/full"
        try Trainer(configuration: configuration(router: "switch"), runDirectory: full, quiet: true).run()
        // The newest checkpoint corrupt: resumed from epoch 1, to the same final weights.
        let corrupt = root + "/corrupt"
        try FileManager.default.copyItem(atPath: full, toPath: corrupt)
        var bytes = [UInt8](FileManager.default.contents(atPath: corrupt + "/checkpoints/epoch-2.ckpt")!)
        bytes[bytes.count / 2] ^= 1
        try AtomicFile.write(bytes, to: corrupt + "/checkpoints/epoch-2.ckpt")
        try Trainer(configuration: configuration(router: "switch"), runDirectory: corrupt, resume: true, quiet: true).run()
        XCTAssertEqual(try weights(corrupt, epoch: 2), try weights(full, epoch: 2))
        // An emptied epochs.jsonl (issue 22, item 2: a trap on records.last!): every checkpoint is
        // ahead of the log, so the run starts again, to the same weights and one record per epoch.
        let emptied = root + "/emptied"
        try FileManager.default.copyItem(atPath: full, toPath: emptied)
        try AtomicFile.write("", to: emptied + "/epochs.jsonl")
        XCTAssertEqual(Trainer.recordedEpochs(in: emptied + "/epochs.jsonl"), 0)
        try Trainer(configuration: configuration(router: "switch"), runDirectory: emptied, resume: true, quiet: true).run()
        XCTAssertEqual(try weights(emptied, epoch: 2), try weights(full, epoch: 2))
        XCTAssertEqual(try MetricsLog.read(EpochRecord.self, from: emptied + "/epochs.jsonl").map(\.epoch), [1, 2])
        // Deleted, and a log missing its last record: resumed from the checkpoint the log covers.
        let deleted = root + "/deleted"
        try FileManager.default.copyItem(atPath: full, toPath: deleted)
        try FileManager.default.removeItem(atPath: deleted + "/epochs.jsonl")
        try Trainer(configuration: configuration(router: "switch"), runDirectory: deleted, resume: true, quiet: true).run()
        XCTAssertEqual(try weights(deleted, epoch: 2), try weights(full, epoch: 2))
        let short = root + "/short"
        try FileManager.default.copyItem(atPath: full, toPath: short)
        let first = try String(contentsOfFile: full + "/epochs.jsonl", encoding: .utf8).split(separator: "\n")[0]
        try AtomicFile.write(first + "\n{\"epoch\":2,\"ste", to: short + "/epochs.jsonl")
        XCTAssertEqual(Trainer.recordedEpochs(in: short + "/epochs.jsonl"), 1)
        try Trainer(configuration: configuration(router: "switch"), runDirectory: short, resume: true, quiet: true).run()
        XCTAssertEqual(try weights(short, epoch: 2), try weights(full, epoch: 2))
    }

    func testEpochsOnResumeExtendOnlyWhenTheRatesAlreadyUsedAgree() throws {
        // Cosine decay over the run's length: the first epoch's rates depend on it; refused.
        let cosine = root + "/cosine"
        try Trainer(configuration: configuration(router: "switch", epochs: 1), runDirectory: cosine, quiet: true).run()
        XCTAssertThrowsError(try trainer(resuming: cosine, epochs: 2)) { error in
            XCTAssertEqual((error as? InputError)?.location, "epochs", "\(error)")
            XCTAssertTrue("\(error)".contains("the learning rate decays (cosine)"), "\(error)")
        }
        // A run two epochs long cannot be shortened to one.
        let two = root + "/two"
        try Trainer(configuration: configuration(router: "switch", epochs: 2), runDirectory: two, quiet: true).run()
        XCTAssertThrowsError(try trainer(resuming: two, epochs: 1)) { error in
            XCTAssertTrue("\(error)".contains("cannot be shortened"), "\(error)")
        }
        // A constant rate after warm-up: extending gives the weights of a run started longer.
        func constant(_ epochs: Int) throws -> TrainingConfiguration {
            var c = try configuration(router: "switch", epochs: epochs)
            c.optimizer.minLearningRate = c.optimizer.learningRate
            return c
        }
        let extended = root + "/extended", reference = root + "/reference"
        try Trainer(configuration: constant(1), runDirectory: extended, quiet: true).run()
        let summary = try Trainer(configuration: constant(2), runDirectory: extended, resume: true, quiet: true).run()
        XCTAssertEqual(summary.epochs, 2)
        try Trainer(configuration: constant(2), runDirectory: reference, quiet: true).run()
        XCTAssertEqual(try weights(extended, epoch: 2), try weights(reference, epoch: 2))
        XCTAssertEqual(try MetricsLog.read(StepRecord.self, from: extended + "/metrics.jsonl").map(\.loss),
                       try MetricsLog.read(StepRecord.self, from: reference + "/metrics.jsonl").map(\.loss))
    }

    func testSizesPastTheMemoryBudgetAreRefusedNamingTheFieldAndRange() throws {
        for (field, value) in [("model.width", "1000000000"), ("batchSize", "1000000000"), ("model.depth", "100000000")] {
            XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [(field, value)])) { error in
                guard let input = error as? InputError else { return XCTFail("\(error)") }
                XCTAssertEqual(input.location, field)
                XCTAssertTrue(input.message.hasPrefix("\(value) is not allowed"), input.message)
                XCTAssertTrue(input.message.contains("memory budget of 64 GiB"), input.message)
                // The largest value it names fits, and one more does not.
                let range = try! XCTUnwrap(input.message.range(of: #"expected 1 to (\d+)"#, options: .regularExpression))
                let largest = Int(input.message[range].split(separator: " ").last!)!
                var c = Presets.tiny
                MemoryBudget.set(field, largest, &c)
                XCTAssertTrue(MemoryBudget(c).fits)
                MemoryBudget.set(field, largest + 1, &c)
                XCTAssertFalse(MemoryBudget(c).fits)
            }
        }
        // Every preset fits, and the estimate bounds the real parameter count from above.
        for preset in Presets.all { XCTAssertTrue(MemoryBudget(preset.configuration).fits, preset.name) }
        for router in ["switch", "expert-choice", "noisy-top-k", "dense"] {
            for (field, value) in [("model.width", "32"), ("model.width", "64"), ("model.experts", "8"), ("model.classifierHidden", "48")] {
                let c = try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [("model.router", router), (field, value)])
                let count = Double(try Trainer(configuration: c, runDirectory: root + "/unused", quiet: true).model.parameterCount)
                let estimate = MemoryBudget(c).parameters
                XCTAssertGreaterThanOrEqual(estimate, count, "\(router) \(field)=\(value)")
                // Dense runs one FFN whatever model.experts says: there the bound is loose.
                if router != "dense" { XCTAssertLessThan(estimate, 1.1 * count, "\(router) \(field)=\(value)") }
            }
        }
    }

    func testCheckpointCountersOutOfRangeAreInputErrorsAndLeaveTheModelAlone() throws {
        let config = try configuration(router: "switch", epochs: 1)
        let dir = root + "/run"
        try Trainer(configuration: config, runDirectory: dir, quiet: true).run()
        let good = try Checkpoint.read(dir + "/checkpoints/epoch-1.ckpt")
        let edited = root + "/edited.ckpt"
        func assertRejected(_ edit: (inout Checkpoint.Header) -> Void, location: String, mentions: String,
                            line: UInt = #line) throws {
            var header = good.header
            edit(&header)
            try Checkpoint(header: header, arrays: good.arrays).write(to: edited)   // a valid checksum
            let trainer = try Trainer(configuration: config, runDirectory: root + "/fresh", quiet: true)
            let before = trainer.parameters.map { Array(UnsafeBufferPointer(start: $0.value.pointer, count: $0.value.count)) }
            XCTAssertThrowsError(try trainer.restore(from: edited), line: line) { error in
                guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError", line: line) }
                XCTAssertEqual(input.file, edited, line: line)
                XCTAssertEqual(input.location, location, line: line)
                XCTAssertTrue(input.message.contains(mentions), "\(input)", line: line)
            }
            let after = trainer.parameters.map { Array(UnsafeBufferPointer(start: $0.value.pointer, count: $0.value.count)) }
            XCTAssertEqual(before, after, "a rejected checkpoint changes no weight", line: line)
        }
        try assertRejected({ $0.counters["adamStep"] = 1e300 }, location: "header.counters.adamStep", mentions: "1e+300")
        try assertRejected({ $0.counters["epochCorrect"] = -3 }, location: "header.counters.epochCorrect", mentions: "-3")
        try assertRejected({ $0.counters["skippedSteps"] = 2.5 }, location: "header.counters.skippedSteps", mentions: "2.5")
        try assertRejected({ $0.epoch = 7 }, location: "header.epoch", mentions: "expected 0…1")
        try assertRejected({ $0.step = -1 }, location: "header.step", mentions: "negative")
        try assertRejected({ $0.generators = [:] }, location: "header.generators.routing", mentions: "generator")
        // The last array missing: found before any weight is copied.
        let last = try XCTUnwrap(good.header.arrays.last)
        XCTAssertTrue(last.name.hasPrefix("adam.v."), last.name)
        var truncated = good.header
        truncated.arrays.removeLast()
        try Checkpoint(header: truncated, arrays: Array(good.arrays.dropLast())).write(to: edited)
        let trainer = try Trainer(configuration: config, runDirectory: root + "/fresh", quiet: true)
        let before = trainer.parameters.map { Array(UnsafeBufferPointer(start: $0.value.pointer, count: $0.value.count)) }
        XCTAssertThrowsError(try trainer.restore(from: edited)) { error in
            XCTAssertEqual((error as? InputError)?.location, "array \(last.name)", "\(error)")
        }
        XCTAssertEqual(trainer.parameters.map { Array(UnsafeBufferPointer(start: $0.value.pointer, count: $0.value.count)) },
                       before, "no weight copied")
        // The unedited checkpoint restores.
        XCTAssertNoThrow(try Trainer(configuration: config, runDirectory: root + "/fresh", quiet: true).restore(from: dir + "/checkpoints/epoch-1.ckpt"))
    }

    func testConfigurationErrorsNameTheFieldAndRange() {
        func assertRejected(_ settings: [(String, String)], mentions: [String], line: UInt = #line) {
            XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: settings.map { (path: $0.0, text: $0.1) }), line: line) { error in
                for word in mentions { XCTAssertTrue("\(error)".contains(word), "'\(error)' should mention '\(word)'", line: line) }
            }
        }
        assertRejected([("model.experts", "0")], mentions: ["model.experts", "0", "1 to 4096"])
        assertRejected([("model.patchSize", "5")], mentions: ["model.patchSize", "divisor"])
        assertRejected([("model.heads", "3")], mentions: ["model.heads", "dividing width"])
        assertRejected([("optimizer.learningRate", "-1")], mentions: ["learningRate", "> 0"])
        assertRejected([("batchSize", "0")], mentions: ["batchSize", "at least 1"])
        assertRejected([("model.widht", "3")], mentions: ["widht", "unknown option"])
        assertRejected([("epochs", "two")], mentions: ["epochs", "two"])
        assertRejected([("model.router", "magic")], mentions: ["magic", "switch"])
        assertRejected([("model.router", "noisy-top-k"), ("model.experts", "1")], mentions: ["k", "1 to E = 1"])
        XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: "huge", file: nil, settings: [])) {
            XCTAssertTrue("\($0)".contains("fmnist-small"))
        }
    }

    /// Found by fuzz-config: an unknown router or a bad router option in config.json was a
    /// RouterConfigurationError rather than an InputError, and no error from validating
    /// config.json named the file.
    func testConfigurationFileErrorsAreInputErrorsNamingTheFile() throws {
        let path = root + "/config.json"
        func assertRejected(_ edit: (inout TrainingConfiguration) -> Void, location: String, mentions: String,
                            line: UInt = #line) throws {
            var configuration = Presets.named("tiny")!
            edit(&configuration)
            try AtomicFile.write(JSONEncoder().encode(configuration), to: path)
            XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: nil, file: path, settings: []), line: line) { error in
                guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError", line: line) }
                XCTAssertEqual(input.file, path, line: line)
                XCTAssertEqual(input.location, location, line: line)
                XCTAssertTrue(input.message.contains(mentions), "\(input)", line: line)
            }
        }
        try assertRejected({ $0.model.router = "top-3" }, location: "model.router", mentions: "expected one of")
        try assertRejected({ $0.model.router = "switch"; $0.model.routerOptions = ["trainingCapacityFactor": "-1"] },
                           location: "model.routerOptions.trainingCapacityFactor", mentions: "router switch")
        try assertRejected({ $0.model.width = 0 }, location: "model.width", mentions: "at least 1")
        // Not JSON, a missing field, a missing file.
        for (text, mentions) in [("{\"preset\": ", "not a Switchyard training configuration"),
                                 ("{\"preset\": \"tiny\"}", "missing field")] {
            try AtomicFile.write(text, to: path)
            XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: nil, file: path, settings: [])) { error in
                XCTAssertEqual((error as? InputError)?.file, path, "\(error)")
                XCTAssertTrue("\(error)".contains(mentions), "\(error)")
            }
        }
        XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: nil, file: root + "/none.json", settings: [])) { error in
            XCTAssertEqual("\(error)", root + "/none.json: cannot read the configuration file")
        }
        // The same mistakes given with --set are InputErrors naming the field.
        XCTAssertThrowsError(try ConfigurationResolver.resolve(preset: "tiny", file: nil, settings: [("model.router", "top-3")])) { error in
            XCTAssertEqual((error as? InputError)?.location, "model.router", "\(error)")
        }
    }

    /// metrics.jsonl and epochs.jsonl: a bad line is named by its number, whether it is not
    /// JSON, not UTF-8 or not a record; blank lines are skipped.
    func testMetricsLogErrorsNameTheLine() throws {
        let path = root + "/epochs.jsonl"
        let good = #"{"epoch":1,"evaluationSeconds":0.5,"imagesPerSecond":600,"perClassAccuracy":[0.5,"nan"],"step":16,"testAccuracy":0.45,"testLoss":1.7,"trainAccuracy":0.4,"trainLoss":1.9,"trainSeconds":3.5}"#
        try AtomicFile.write(good + "\n\n" + good + "\n", to: path)
        let records = try MetricsLog.read(EpochRecord.self, from: path)
        XCTAssertEqual(records.count, 2)
        XCTAssertTrue(records[0].perClassAccuracy[1].isNaN)
        func assertRejected(_ bytes: [UInt8], line: Int, sourceLine: UInt = #line) throws {
            try AtomicFile.write(bytes, to: path)
            XCTAssertThrowsError(try MetricsLog.read(EpochRecord.self, from: path), line: sourceLine) { error in
                guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError", line: sourceLine) }
                XCTAssertEqual(input.file, path, line: sourceLine)
                XCTAssertEqual(input.location, "line \(line)", line: sourceLine)
                XCTAssertTrue(input.message.contains("not a valid EpochRecord record"), "\(input)", line: sourceLine)
            }
        }
        try assertRejected(Array((good + "\n{not json\n").utf8), line: 2)
        try assertRejected(Array((good + "\n" + good.replacingOccurrences(of: "\"step\":16", with: "\"step\":\"16\"")).utf8), line: 2)
        try assertRejected(Array((good + "\n").utf8) + [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D, 0x0A], line: 2)
        try assertRejected(Array("\n\n[1, 2]\n".utf8), line: 3)
        XCTAssertThrowsError(try MetricsLog.read(EpochRecord.self, from: root + "/missing.jsonl")) { error in
            XCTAssertEqual("\(error)", root + "/missing.jsonl: no such file")
        }
    }

    /// Checkpoints whose checksum is right but whose header lies: each is an InputError at its
    /// byte, found before anything is allocated for the arrays.
    func testCheckpointHeaderLiesAreRejected() throws {
        let path = root + "/lie.ckpt"
        let header = Checkpoint.Header(configuration: Presets.named("tiny")!, epoch: 1, step: 2, generators: [:],
                                       arrays: [.init(name: "a", count: 2)], counters: [:])
        try Checkpoint(header: header, arrays: [[1, 2]]).write(to: path)
        let good = [UInt8](FileManager.default.contents(atPath: path)!)
        XCTAssertEqual(try Checkpoint.read(path).arrays, [[1, 2]])
        func assertRejected(_ edit: (inout [UInt8]) -> Void, location: String, mentions: String, line: UInt = #line) throws {
            var bytes = Array(good.dropLast(4))
            edit(&bytes)
            withUnsafeBytes(of: crc32Checksum(bytes).littleEndian) { bytes.append(contentsOf: $0) }
            try AtomicFile.write(bytes, to: path)
            XCTAssertThrowsError(try Checkpoint.read(path), line: line) { error in
                guard let input = error as? InputError else { return XCTFail("\(error) is not an InputError", line: line) }
                XCTAssertEqual(input.file, path, line: line)
                XCTAssertEqual(input.location, location, line: line)
                XCTAssertTrue(input.message.contains(mentions), "\(input)", line: line)
            }
        }
        try assertRejected({ $0[0] = UInt8(ascii: "X") }, location: "byte 0", mentions: "magic")
        try assertRejected({ $0.replaceSubrange(8..<16, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) },
                           location: "byte 8", mentions: "exceeds the file")
        try assertRejected({ $0[16] = UInt8(ascii: "[") }, location: "byte 16", mentions: "not valid checkpoint JSON")
        let count = Array(#""count":2"#.utf8)
        let at = (0..<(good.count - count.count)).first { Array(good[$0..<($0 + count.count)]) == count }!
        try assertRejected({ $0[at + count.count - 1] = UInt8(ascii: "9") }, location: "byte \(good.count - 12)",
                           mentions: "claims 9 floats")
        try assertRejected({ $0[at + count.count - 1] = UInt8(ascii: "1") }, location: "byte \(good.count - 8)",
                           mentions: "4 bytes after the last array")
        try assertRejected({ $0.removeAll() }, location: "byte 0", mentions: "too short")
    }
}

/// The run directory's lock and its preparation for a new, replacing or resumed run.
final class RunDirectorySetupTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-setup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func testALockHeldElsewhereIsRefusedNamingItsHolderAndReleasedWhenItsHolderCloses() throws {
        let dir = root + "/run"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Another open file description on the lock file stands for another process.
        let other = open(dir + "/.lock", O_RDWR | O_CREAT, 0o644)
        XCTAssertEqual(flock(other, LOCK_EX | LOCK_NB), 0)
        _ = "4242\n".withCString { write(other, $0, 5) }
        XCTAssertThrowsError(try RunDirectoryLock(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("another process is writing this run directory (pid 4242"), "\(error)")
        }
        close(other)   // what the kernel does when a holder dies, even by SIGKILL
        let lock = try RunDirectoryLock(directory: dir)
        XCTAssertEqual(try String(contentsOfFile: dir + "/.lock", encoding: .utf8), "\(getpid())\n")
        let again = try RunDirectoryLock(directory: dir)   // the same process: another handle
        again.release()
        lock.release()
        // A directory the lock created and nothing else used is removed with it.
        let created = try RunDirectoryLock(directory: root + "/new/deeper")
        XCTAssertTrue(created.createdDirectory)
        created.release(removingCreatedDirectory: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/new/deeper"))
    }

    func testANewRunNeedsAnEmptyDirectoryAndOverwriteRemovesOnlyTheRunsFiles() throws {
        let dir = root + "/run"
        for name in ["config.json", "epochs.jsonl", "checkpoints/epoch-1.ckpt", "traces/epoch-1.sytrace", "report/report.md"] {
            try AtomicFile.write("x", to: dir + "/" + name)
        }
        XCTAssertThrowsError(try RunDirectorySetup.prepare(dir, mode: .new)) { error in
            XCTAssertTrue("\(error)".contains("holds a run (checkpoints, config.json, epochs.jsonl, report, traces)"), "\(error)")
            XCTAssertTrue("\(error)".contains("--overwrite"), "\(error)")
        }
        XCTAssertNoThrow(try RunDirectorySetup.prepare(dir, mode: .resume))
        let notes = try RunDirectorySetup.prepare(dir, mode: .overwrite)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["report"])
        XCTAssertEqual(notes, ["--overwrite removed the earlier run's files; left in place (not written by train): report"])
        try FileManager.default.removeItem(atPath: dir + "/report")
        XCTAssertEqual(try RunDirectorySetup.prepare(dir, mode: .new), [])
    }

    func testTemporariesOfDeadProcessesAreRemovedAndLiveOnesKept() throws {
        let dir = root + "/run"
        var dead: pid_t = 999_999
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let stale = [".config.json.tmp-\(dead)", "checkpoints/.epoch-2.ckpt.tmp-\(dead)", "traces/.epoch-2.sytrace.tmp-\(dead)"]
        let live = [".summary.json.tmp-\(getpid())", "checkpoints/.epoch-1.ckpt.tmp-1"]
        for name in stale + live + ["notes.tmp-\(dead)"] { try AtomicFile.write("x", to: dir + "/" + name) }
        XCTAssertEqual(RunDirectorySetup.removeStaleTemporaries(in: dir), 3)
        for name in stale { XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/" + name), name) }
        for name in live + ["notes.tmp-\(dead)"] { XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + name), name) }
        XCTAssertEqual(RunDirectorySetup.temporaryOwner(".a.b.tmp-12"), 12)
        XCTAssertNil(RunDirectorySetup.temporaryOwner(".a.tmp-x"))
    }

    func testDifferencesNameTheChangedFields() {
        var a = TrainingConfiguration(), b = TrainingConfiguration()
        XCTAssertEqual(RunDirectorySetup.differences(a, b), [])
        b.threads = 4
        b.model.routerOptions["capacityFactor"] = "2"
        a.model.width = 64
        XCTAssertEqual(RunDirectorySetup.differences(a, b), ["model.routerOptions.capacityFactor (none → 2)", "threads (2 → 4)"])
    }
}
