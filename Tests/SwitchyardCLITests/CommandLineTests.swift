import ArgumentParser
import XCTest
@testable import SwitchyardCLI

/// The command line end to end, as a user runs it (commands parsed from argument lists).
final class CommandLineTests: XCTestCase {
    var root: String!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "switchyard-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func run(_ arguments: [String]) throws {
        var command = try SwitchyardCommand.parseAsRoot(arguments)
        try command.run()
    }

    func testTrainEvalAnalyzeWriteWhatTheyPromise() throws {
        let dir = root + "/sw"
        try run(["train", "--preset", "tiny", "--router", "switch", "--epochs", "2", "--quiet",
                 "--set", "data.trainLimit=256", "--set", "data.testLimit=64", "--out", dir])
        try run(["eval", dir, "--epoch", "1", "--trace", root + "/eval.sytrace"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/eval.sytrace"))
        try run(["analyze", dir, "--bootstrap", "20", "--permutations", "20", "--json", root + "/a.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/a.json"))) as! [String: Any]
        let entry = (json["traces"] as! [[String: Any]])[0]
        let layer = ((entry["analysis"] as! [String: Any])["layers"] as! [[String: Any]])[0]
        let load = layer["load"] as! [String: Any], affinity = layer["affinity"] as! [String: Any]
        let heterogeneity = layer["heterogeneity"] as! [String: Any]
        for key in ["cv", "gini", "max_vio", "chi2_p"] { XCTAssertNotNil(load[key], "load.\(key)") }
        for key in ["mutual_information_bits", "cramers_v"] { XCTAssertNotNil(affinity[key], "affinity.\(key)") }
        XCTAssertNotNil(heterogeneity["experts_per_token_histogram"])
        XCTAssertNotNil(entry["stability"], "two epoch traces give an epoch-to-epoch agreement")
    }

    func testBadInputIsAnErrorNamingFileAndPlace() throws {
        let csv = root + "/bad.csv"
        try "token,layer,expert,weight\n0,0,1,0.5\n1,0,x,0.5\n".write(toFile: csv, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try run(["analyze", csv])) { error in
            XCTAssertTrue("\(error)".contains("bad.csv") && "\(error)".contains("line 3"), "\(error)")
        }
        XCTAssertThrowsError(try run(["train", "--preset", "tiny", "--set", "model.heads=3", "--out", root + "/x"])) { error in
            XCTAssertTrue("\(error)".contains("model.heads"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/x/config.json"), "nothing written for a rejected run")
        XCTAssertThrowsError(try run(["train", "--router-option", "k", "--out", root + "/y"]))
        XCTAssertThrowsError(try run(["analyze", root + "/missing.sytrace"])) { error in
            XCTAssertTrue("\(error)".contains("missing.sytrace"), "\(error)")
        }
    }

    func testHugeExpertIndexAndResampleCountsAreBounded() throws {
        // Issue 22, item 4: 2 layers × 2,000 tokens with one assignment of expert 100,000 once
        // allocated the 10¹⁰-cell E × E transition table (80 GB). The import now refuses such an
        // index unless --experts says so (at most 4,096), and the tables are sized by the experts
        // used: expert 4,000 of 4,096 costs nothing. Item 13: --bootstrap 1000000000 is refused.
        var rows = "token,layer,expert,weight,label\n"
        for t in 0..<2000 {
            for l in 0..<2 { rows += "\(t),\(l),\(t == 7 && l == 1 ? 4_000 : (t + l) % 4),1,\(t % 3)\n" }
        }
        let csv = root + "/huge.csv"
        try rows.write(toFile: csv, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try run(["analyze", csv])) { error in
            XCTAssertTrue("\(error)".contains("4000"), "\(error)")
        }
        try run(["analyze", csv, "--experts", "4096", "--bootstrap", "10", "--permutations", "10", "--json", root + "/huge.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/huge.json"))) as! [String: Any]
        let analysis = try XCTUnwrap(((json["traces"] as? [[String: Any]])?.first)?["analysis"] as? [String: Any])
        let transition = try XCTUnwrap((analysis["layer_transitions"] as? [[String: Any]])?.first)
        XCTAssertEqual(transition["tokens"] as? Int, 2000)
        XCTAssertThrowsError(try run(["analyze", csv, "--experts", "4096", "--bootstrap", "1000000000"])) { error in
            XCTAssertTrue(SwitchyardCommand.message(for: error).contains("--bootstrap must be in 0...100000"),
                          SwitchyardCommand.message(for: error))
        }
        XCTAssertThrowsError(try run(["analyze", csv, "--experts", "4096", "--permutations", "100001"]))
        // --versus: both groups' analyses in the JSON, Holm p per metric.
        try run(["analyze", csv, csv, "--versus", csv, csv, "--experts", "4096", "--bootstrap", "0", "--permutations", "0",
                 "--json", root + "/versus.json"])
        let versus = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/versus.json"))) as! [String: Any]
        XCTAssertEqual((versus["traces"] as? [Any])?.count, 2)
        XCTAssertEqual((versus["versus"] as? [Any])?.count, 2)
        let metrics = try XCTUnwrap((versus["comparison"] as? [String: Any])?["metrics"] as? [[String: Any]])
        XCTAssertTrue(metrics.allSatisfy { $0.keys.contains("metric") })
    }

    /// `analyze --sample`: the whole file's loads equal the in-memory analysis of the whole
    /// file (every LoadStatistics field), the statistics are the sample's, and inputs that
    /// cannot be sampled in one pass are refused.
    func testSampleAnalysesASampleBesideTheWholeFilesLoads() throws {
        var rows = "token,layer,expert,weight,label,group\n"
        for t in 0..<3000 {
            for l in [1, 4] {
                if (t * 7 + l) % 13 == 0 { rows += "\(t),\(l),-1,,\(t % 5),\(t / 30)\n"; continue }
                let a = (t * t + l) % 8, b = (a + 1 + t % 3) % 8
                rows += "\(t),\(l),\(a),0.7,\(t % 5),\(t / 30)\n\(t),\(l),\(b),0.3,\(t % 5),\(t / 30)\n"
            }
        }
        let csv = root + "/s.csv"
        try rows.write(toFile: csv, atomically: false, encoding: .utf8)
        let options = ["--experts", "8", "--bootstrap", "20", "--permutations", "20"]
        try run(["analyze", csv, "--json", root + "/full.json"] + options)
        try run(["analyze", csv, "--sample", "25", "--json", root + "/sample.json"] + options)
        func entry(_ name: String) throws -> [String: Any] {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/" + name))) as! [String: Any]
            return (json["traces"] as! [[String: Any]])[0]
        }
        let full = try entry("full.json")["analysis"] as! [String: Any]
        let sampled = try entry("sample.json")
        let whole = try XCTUnwrap(sampled["whole_file"] as? [String: Any])
        XCTAssertEqual(whole["units_in_file"] as? Int, 100)
        XCTAssertEqual(whole["units_kept"] as? Int, 25)
        XCTAssertEqual(whole["unit"] as? String, "routing group")
        let fullLayers = full["layers"] as! [[String: Any]], wholeLayers = whole["layers"] as! [[String: Any]]
        XCTAssertEqual(wholeLayers.count, 2)
        for (f, w) in zip(fullLayers, wholeLayers) {
            XCTAssertEqual(f["layer"] as? Int, w["layer"] as? Int)
            XCTAssertTrue(NSDictionary(dictionary: f["load"] as! [String: Any]).isEqual(to: w["load"] as! [String: Any]),
                          "layer \(w["layer"] ?? "?"): \(f["load"] ?? "") vs \(w["load"] ?? "")")
        }
        let fullOverall = (full["overall"] as! [String: Any])["load"] as! [String: Any]
        XCTAssertTrue(NSDictionary(dictionary: fullOverall).isEqual(to: whole["overall"] as! [String: Any]))
        let sampleAnalysis = sampled["analysis"] as! [String: Any]
        XCTAssertEqual(sampleAnalysis["token_count"] as? Int, 750)

        try run(["train", "--preset", "tiny", "--epochs", "1", "--quiet", "--set", "data.trainLimit=64",
                 "--set", "data.testLimit=32", "--out", root + "/r"])
        XCTAssertThrowsError(try run(["analyze", root + "/r", "--sample", "10"])) { error in
            XCTAssertTrue("\(error)".contains("a sample is drawn from a trace CSV"), "\(error)")
        }
        XCTAssertThrowsError(try run(["analyze", csv, "--sample", "0"])) { error in
            XCTAssertTrue(SwitchyardCommand.message(for: error).contains("--sample must be in 1…"), SwitchyardCommand.message(for: error))
        }
    }

    /// `analyze DIR --stream`: the Qwen2-MoE fixture (routing groups, a gated shared expert, two
    /// blocks) read in chunks of 100 tokens gives the in-memory analysis's numbers without
    /// resampling; `--sample` adds an in-memory analysis of whole sequences; an input it cannot
    /// read is an error that says why.
    func testStreamReadsAnNPYDirectoryInChunks() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/llm/qwen2_moe").standardized.path
        try run(["analyze", fixture, "--stream", "--chunk-tokens", "100", "--json", root + "/s.json"])
        try run(["analyze", fixture, "--bootstrap", "0", "--permutations", "0", "--json", root + "/m.json"])
        func analysis(_ name: String) throws -> [String: Any] {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/" + name))) as! [String: Any]
            return (json["traces"] as! [[String: Any]])[0]["analysis"] as! [String: Any]
        }
        var streamed = try analysis("s.json"), whole = try analysis("m.json")
        let resampling = try XCTUnwrap(streamed["resampling"] as? [String: Any])
        XCTAssertEqual(resampling["method"] as? String, "one_pass")
        XCTAssertGreaterThan(resampling["chunks"] as? Int ?? 0, 10)
        for key in ["layers", "overall", "layer_transitions", "neighbour_agreement", "co_activation",
                    "vocabulary_specialisation", "metadata"] {
            XCTAssertNotNil(streamed[key], key)
            XCTAssertTrue(NSDictionary(dictionary: ["v": streamed[key] as Any]).isEqual(to: ["v": whole[key] as Any]), key)
        }
        // Everything but the gate's quartiles, which one pass leaves out.
        var shared = whole["shared_experts"] as! [[String: Any]]
        for i in shared.indices { shared[i]["gate_quartiles"] = NSNull() }
        streamed["shared_experts"] = (streamed["shared_experts"] as! [[String: Any]]).map { $0.merging(["gate_quartiles": NSNull()]) { $1 } }
        XCTAssertTrue(NSArray(array: shared).isEqual(to: streamed["shared_experts"] as! [[String: Any]]))

        let csv = root + "/t.csv"
        try "token,layer,expert,weight\n0,0,1,1\n".write(toFile: csv, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try run(["analyze", csv, "--stream"])) { error in
            XCTAssertTrue("\(error)".contains("one pass over chunks reads an NPY trace directory"), "\(error)")
        }
        // A sample of 10 of the 64 sequences, analysed in memory with intervals.
        try run(["analyze", fixture, "--stream", "--sample", "10", "--bootstrap", "20", "--permutations", "20",
                 "--json", root + "/sample.json"])
        let entry = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/sample.json"))) as! [String: Any])["traces"] as! [[String: Any]]
        let sample = try XCTUnwrap(entry[0]["sample"] as? [String: Any])
        XCTAssertEqual(sample["unit"] as? String, "sequence")
        XCTAssertEqual(sample["units_in_trace"] as? Int, 64)
        XCTAssertEqual(sample["units_kept"] as? Int, 10)
        let sampled = sample["analysis"] as! [String: Any]
        XCTAssertEqual((sampled["resampling"] as! [String: Any])["routing_groups"] as? Int, 10)
        XCTAssertEqual(sampled["token_count"] as? Int, sample["tokens"] as? Int)
        XCTAssertNotNil(((sampled["layers"] as! [[String: Any]])[0]["uncertainty"] as? [String: Any])?["cv"])
        XCTAssertEqual((entry[0]["analysis"] as! [String: Any])["token_count"] as? Int, 2547)
    }

    /// `report TRACE`: an imported trace (here a CSV) gets a trace report; a run directory still
    /// gets a run report.
    func testReportTakesATrace() throws {
        var rows = "token,layer,expert,weight,label\n"
        for t in 0..<400 { for l in [2, 5] { rows += "\(t),\(l),\((t * 3 + l) % 4),1,\(t % 3)\n" } }
        let csv = root + "/t.csv"
        try rows.write(toFile: csv, atomically: false, encoding: .utf8)
        try run(["report", csv, "--out", root + "/tr", "--bootstrap", "20", "--permutations", "20"])
        let text = try String(contentsOfFile: root + "/tr/report.md", encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("# Trace report: t.csv"), String(text.prefix(60)))
        XCTAssertTrue(text.contains("| layers | 2 (blocks 2, 5) |"))
        XCTAssertThrowsError(try run(["report", root + "/missing.csv", "--out", root + "/x"])) { error in
            XCTAssertTrue("\(error)".contains("missing.csv"), "\(error)")
        }
    }

    /// `analyze --saturation`: checkpoints of the same tokens, each against the last.
    func testSaturationComparesCheckpointsWithTheLast() throws {
        func write(_ name: String, _ expert: (Int) -> Int) throws -> String {
            var rows = "token,layer,expert,weight\n"
            for t in 0..<40 { rows += "\(t),0,\(expert(t)),1\n" }
            let path = root + "/" + name
            try rows.write(toFile: path, atomically: false, encoding: .utf8)
            return path
        }
        let early = try write("early.csv") { $0 % 4 }, late = try write("late.csv") { $0 < 20 ? $0 % 4 : ($0 + 1) % 4 }
        try run(["analyze", early, late, "--saturation", "--experts", "4", "--bootstrap", "0", "--permutations", "0",
                 "--json", root + "/s.json"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/s.json"))) as! [String: Any]
        let saturation = try XCTUnwrap((json["saturation"] as? [[String: Any]])?.first)
        XCTAssertEqual(try XCTUnwrap(saturation["saturation"] as? Double), 0.5, accuracy: 1e-12, "half the tokens kept their expert")
        XCTAssertEqual(try XCTUnwrap(saturation["baseline"] as? Double), 0.25, accuracy: 1e-12)
        XCTAssertThrowsError(try run(["analyze", early, "--saturation"]))
    }

    // Issue 22: a FIFO (which blocked forever), an expert count beyond the E × E tables'
    // budget, a truncated .csv.gz; and label −1 (unknown), which is accepted.
    func testInputAttacksAreErrorsAndUnknownLabelsAreAccepted() throws {
        let fifo = root + "/pipe.csv"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try run(["analyze", fifo])) { error in
            XCTAssertTrue("\(error)".contains("pipe.csv: is a FIFO"), "\(error)")
        }
        let csv = root + "/u.csv"
        try "token,layer,expert,weight,label\n0,0,0,1,-1\n1,0,1,1,0\n2,0,0,1,1\n3,0,1,1,0\n".write(toFile: csv, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try run(["analyze", csv, "--experts", "5000"])) { error in
            XCTAssertTrue("\(error)".contains("--experts: 5000 is outside 1…4096"), "\(error)")
        }
        try run(["analyze", csv, "--bootstrap", "10", "--permutations", "10", "--json", root + "/u.json"])
        let json = try String(contentsOfFile: root + "/u.json", encoding: .utf8)
        XCTAssertTrue(json.contains("\"tokens\" : 4"), json)
        let gz = root + "/cut.csv.gz"
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-k", csv]
        try gzip.run()
        gzip.waitUntilExit()
        let packed = try Data(contentsOf: URL(fileURLWithPath: csv + ".gz"))
        try packed.dropLast(4).write(to: URL(fileURLWithPath: gz))
        XCTAssertThrowsError(try run(["analyze", gz, "--json", root + "/cut.json"])) { error in
            XCTAssertTrue("\(error)".contains("cut.csv.gz") && "\(error)".contains("truncated"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/cut.json"), "no JSON for a refused input")
    }

    func testReportAndCompareWriteMarkdownWithCharts() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../SwitchyardReportsTests/Fixtures/runs").standardized.path
        try run(["report", fixtures + "/switch-s0", "--out", root + "/r", "--bootstrap", "20", "--permutations", "20"])
        let report = try String(contentsOfFile: root + "/r/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("![Training loss over steps](charts/loss.svg)"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/r/charts/loss.svg"))
        try run(["compare", fixtures + "/switch-s0", fixtures + "/switch-s1", fixtures + "/expert-choice-s0",
                 "--out", root + "/c", "--bootstrap", "0", "--permutations", "0"])
        let comparison = try String(contentsOfFile: root + "/c/report.md", encoding: .utf8)
        XCTAssertTrue(comparison.contains("| switch | 2 |") && comparison.contains("| expert-choice | 1 |"), comparison)
        XCTAssertThrowsError(try run(["compare", fixtures + "/switch-s0", "--out", root + "/c1"]))
        XCTAssertThrowsError(try run(["report", root + "/no-such-run", "--out", root + "/r2"])) { error in
            XCTAssertTrue("\(error)".contains("no-such-run"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/r2"), "nothing written for a bad run")
    }

    func testRoutersAndPresetsList() throws {
        try run(["routers"])
        try run(["routers", "--name", "expert-choice"])
        XCTAssertThrowsError(try run(["routers", "--name", "nope"]))
        try run(["presets"])
        try run(["presets", "fmnist-small"])
    }
}
