// fuzz-seeds: writes the seed corpora, Fuzz/Corpus/<target>/, with Switchyard's own writers:
// small valid inputs of every format, from which the fuzzers mutate. The corpora are
// committed; run this again (scripts/fuzz.sh --seeds) after a format changes.
import SwitchyardDatasets
import SwitchyardFileIO
import Foundation
import SwitchyardTraces
import SwitchyardTraining

@main enum FuzzSeeds {
    static func main() throws {
        let root = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Fuzz/Corpus"
        let separator = Array("%%%%".utf8)
        func save(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
            let directory = (root as NSString).appendingPathComponent(target)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicFile.write(bytes, to: (directory as NSString).appendingPathComponent(name))
        }
        func joined(_ parts: [[UInt8]]) -> [UInt8] {
            parts.enumerated().flatMap { $0.offset == 0 ? $0.element : separator + $0.element }
        }

        // IDX: two 3 × 3 images and their labels; the same gzip-compressed.
        let images = IDXReader.encode(dimensions: [2, 3, 3], bytes: (0..<18).map { UInt8($0 * 14) })
        let labels = IDXReader.encode(dimensions: [2], bytes: [3, 9])
        try save("fuzz-idx", "two-images.idx", joined([images, labels]))
        try save("fuzz-idx", "two-images-gzip.idx", joined([try GzipFile.compress(images), try GzipFile.compress(labels)]))

        // CIFAR-10: one record; two records gzip-compressed.
        let record = [UInt8(6)] + (0..<3072).map { UInt8(truncatingIfNeeded: $0 / 12) }
        try save("fuzz-cifar", "one-record.bin", record)
        try save("fuzz-cifar", "two-records.bin.gz", try GzipFile.compress(record + [2] + record.dropFirst(), level: 9))

        // gzip: text compressed, two gzip members back to back, an empty member, plain text.
        let text = Array("token,layer,expert,weight\n0,0,1,1.0\n".utf8)
        try save("fuzz-gzip", "text.gz", try GzipFile.compress(text))
        try save("fuzz-gzip", "two-members.gz", try GzipFile.compress(text) + GzipFile.compress(Array("more\n".utf8), level: 1))
        try save("fuzz-gzip", "empty.gz", try GzipFile.compress([]))
        try save("fuzz-gzip", "plain.txt", text)
        // gzip streams that do not end properly (issue 22): cut in the data, without the
        // trailer, a wrong CRC-32 and a wrong length in the trailer, bytes after the end,
        // and the valid case of zero padding after the last member.
        let packed = try GzipFile.compress(Array(repeating: text, count: 8).flatMap { $0 })
        try save("fuzz-gzip", "cut-in-data.gz", Array(packed[0..<(packed.count / 2)]))
        try save("fuzz-gzip", "no-trailer.gz", Array(packed.dropLast(8)))
        var wrongCRC = packed
        wrongCRC[packed.count - 8] ^= 0x55
        try save("fuzz-gzip", "wrong-crc.gz", wrongCRC)
        var wrongLength = packed
        wrongLength[packed.count - 4] ^= 0x55
        try save("fuzz-gzip", "wrong-length.gz", wrongLength)
        try save("fuzz-gzip", "trailing-garbage.gz", packed + Array("garbage".utf8))
        try save("fuzz-gzip", "zero-padding.gz", packed + [UInt8](repeating: 0, count: 12))

        // Trace CSV: the three-line minimum; every column with a dropped token, a BOM and CRLF; gzip.
        try save("fuzz-trace-csv", "minimal.csv", Array("token,layer,expert,weight\n0,0,1,1.0\n1,0,0,1.0\n".utf8))
        let full = "\u{FEFF}token,layer,expert,weight,label,position,prob\r\n0,0,3,0.71,7,1,0.71\r\n0,0,1,0.29,7,1,0.22\r\n"
            + "1,0,-1,,7,2,0.64\r\n1,2,0,1,7,2,0.5\r\n2,2,2,0.5,,,\r\n"
        try save("fuzz-trace-csv", "all-columns.csv", Array(full.utf8))
        try save("fuzz-trace-csv", "reordered.csv.gz",
                 try GzipFile.compress(Array("expert,weight,token,layer,prob\n1,0.5,0,3,0.5\n0,0.5,0,3,0.5\n".utf8)))
        // Label −1 (unknown), groups, and tokens in descending order (the streamed import's
        // passes must agree on them).
        try save("fuzz-trace-csv", "unknown-labels-groups.csv",
                 Array("token,layer,expert,weight,label,group\n2,1,0,1,-1,1\n1,1,1,1,0,0\n0,1,0,1,,0\n0,0,1,1,,0\n".utf8))

        // NumPy: experts alone (int64, 2 × 2); all five arrays (3-D experts, float32 weights,
        // float64 probabilities, int32 labels and positions).
        try save("fuzz-npy", "experts-only.npy", npy(int64: [0, 1, 1, -1], shape: [2, 2]))
        try save("fuzz-npy", "all-arrays.npy", joined([
            npy(int64: [0, 1, 2, -1, 1, 0, 2, 1], shape: [2, 2, 2]),
            npy(float32: [0.6, 0.4, 1, 0, 0.5, 0.5, 0.7, 0.3], shape: [2, 2, 2]),
            npy(float64: [0.6, 0.3, 0.1, 0.1, 0.1, 0.8, 0.5, 0.25, 0.25, 0.2, 0.7, 0.1], shape: [2, 2, 3]),
            npy(int32: [4, -1], shape: [2]),
            npy(int32: [0, 1], shape: [2]),
        ]))
        try save("fuzz-npy", "no-weights.npy", joined([npy(int32: [1, 0, 2], shape: [3, 1]), [], [], npy(int64: [0, 1, 1], shape: [3])]))

        // .sytrace: a minimal trace, one with every optional array, the latter gzip-compressed.
        let minimal = RoutingTrace(expertCount: 2, tokenCount: 2, layers: [
            LayerRouting(layer: 0, offsets: [0, 1, 2], experts: [1, 0], weights: [1, 1]),
        ])
        try save("fuzz-sytrace", "minimal.sytrace", try RoutingTraceFile.encode(minimal))
        var layer = LayerRouting(layer: 1, offsets: [0, 2, 2, 3], experts: [0, 2, 1], weights: [0.75, 0.25, 1])
        layer.probabilities = [0.7, 0.1, 0.2, 0.3, 0.3, 0.4, 0.1, 0.8, 0.1]
        layer.topProbability = [0.7, 0.4, 0.8]
        layer.routerEntropy = [0.8018, 1.0889, 0.6390]
        layer.preferredExpert = [0, 2, 1]
        layer.capacity = 2
        let rich = RoutingTrace(expertCount: 3, tokenCount: 3, labels: [1, 0, -1], positions: [0, 1, 2], classCount: 2,
                                classNames: ["cat", "dog"], layers: [layer, LayerRouting(layer: 3, offsets: [0, 1, 2, 3], experts: [2, 2, 0], weights: [1, 1, 1])],
                                metadata: ["router": "switch", "epoch": "1"])
        try save("fuzz-sytrace", "all-arrays.sytrace", try RoutingTraceFile.encode(rich))
        try save("fuzz-sytrace", "all-arrays.sytrace.gz", try GzipFile.compress(try RoutingTraceFile.encode(rich)))
        // Twelve routing groups (batches) of two tokens, one image each: enough groups for the
        // load intervals' group bootstrap, which fuzz-sytrace's analysis then reaches.
        var groupedOffsets: [Int32] = [0], groupedExperts: [Int32] = []
        for t in 0..<24 {
            if t % 4 != 3 { groupedExperts.append(Int32(t % 2)) }
            groupedOffsets.append(Int32(groupedExperts.count))
        }
        let grouped = RoutingTrace(
            expertCount: 2, tokenCount: 24, labels: (0..<24).map { Int32($0 / 2 % 3) },
            positions: (0..<24).map { Int32($0 % 2) }, classCount: 3,
            layers: [LayerRouting(layer: 0, offsets: groupedOffsets, experts: groupedExperts,
                                  weights: [Float](repeating: 1, count: groupedExperts.count), capacity: 12)],
            routingGroups: [Int](repeating: 2, count: 12), metadata: ["router": "switch"])
        try save("fuzz-sytrace", "groups.sytrace", try RoutingTraceFile.encode(grouped))
        try save("fuzz-trace-csv", "groups.csv", Array(try grouped.csvText().utf8))
        // The exporter's meta.json: as the fixtures have it, with every field, and a bare one.
        try save("fuzz-export-meta", "qwen2-moe.json", Array("""
            {"format": "switchyard-hf-routing-export/1", "blocks": [1, 3], "experts": 4, "tokens": 2, \
            "labels": "token ids", "groups": "sequence index", "k": 4, "model_type": "qwen2_moe", \
            "shared_experts": {"count": 1, "gated": true, "gate": "sigmoid"}, "convention": "softmax, top-k"}
            """.utf8))
        try save("fuzz-export-meta", "bare.json", Array("{}".utf8))
        // Megatron-LM's router trace: two decoder layers of two steps, an MTP record, CRLF.
        try save("fuzz-megatron", "two-steps.jsonl", Array("""
            {"step": 0, "stage": "pre_dispatch", "block": "decoder", "layer": 1, "rank": 0, "num_tokens": 2, "topk": 2, "top_indices": [[0, 3], [2, 1]]}
            {"step": 0, "stage": "pre_dispatch", "block": "decoder", "layer": 3, "rank": 0, "num_tokens": 2, "topk": 2, "top_indices": [[1, 0], [3, 2]]}
            {"step": 0, "stage": "pre_dispatch", "block": "mtp", "layer": 1, "rank": 0, "num_tokens": 2, "topk": 2, "top_indices": [[0, 1], [0, 1]], "mtp_idx": 0}
            {"step": 1, "stage": "pre_dispatch", "block": "decoder", "layer": 1, "rank": 0, "num_tokens": 1, "topk": 2, "top_indices": [[2, 3]]}
            {"step": 1, "stage": "pre_dispatch", "block": "decoder", "layer": 3, "rank": 0, "num_tokens": 1, "topk": 2, "top_indices": [[0, 1]]}

            """.utf8))
        try save("fuzz-megatron", "crlf.jsonl", Array("{\"step\": 0, \"layer\": 2, \"num_tokens\": 1, \"topk\": 1, \"top_indices\": [[5]]}\r\n".utf8))
        // The one-pass sample reads the same CSVs: sorted by token (with and without groups, a BOM
        // and CRLF, gzip) and one out of order, which it refuses.
        try save("fuzz-trace-sample", "minimal.csv", Array("token,layer,expert,weight\n0,0,1,1.0\n1,0,0,1.0\n".utf8))
        try save("fuzz-trace-sample", "all-columns.csv", Array(full.utf8))
        try save("fuzz-trace-sample", "groups.csv", Array(try grouped.csvText().utf8))
        try save("fuzz-trace-sample", "groups.csv.gz", try GzipFile.compress(Array(try grouped.csvText().utf8)))
        try save("fuzz-trace-sample", "descending.csv",
                 Array("token,layer,expert,weight,label,group\n2,1,0,1,-1,1\n1,1,1,1,0,0\n0,1,0,1,,0\n0,0,1,1,,0\n".utf8))

        // Checkpoint: the tiny preset's configuration, a generator state and three small arrays.
        let configuration = Presets.named("tiny")!
        // (Checkpoint.Header has no public memberwise initialiser: decoded from its JSON.)
        let configurationJSON = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        let header = try JSONDecoder().decode(Checkpoint.Header.self, from: Data("""
            {"configuration": \(configurationJSON), "epoch": 1, "step": 16, "generators": {"routing": [1, 2, 3, 4]},
             "arrays": [{"name": "patch.weight", "count": 4}, {"name": "adam.m.patch.weight", "count": 4},
                        {"name": "empty", "count": 0}],
             "counters": {"trainSeconds": 1.5}}
            """.utf8))
        let checkpointPath = NSTemporaryDirectory() + "fuzz-seeds-\(getpid()).ckpt"
        try Checkpoint(header: header, arrays: [[0.5, -1, 2, .pi], [0, 0, 1e-8, 1], []]).write(to: checkpointPath)
        try save("fuzz-checkpoint", "tiny.ckpt", [UInt8](FileManager.default.contents(atPath: checkpointPath)!))
        try? FileManager.default.removeItem(atPath: checkpointPath)

        // config.json: every preset as `switchyard train` writes it; one with --set values;
        // --set values alone (on the tiny preset).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        for preset in Presets.all {
            try save("fuzz-config", "\(preset.name).json", Array(try encoder.encode(preset.configuration)))
        }
        let compact = JSONEncoder()
        compact.outputFormatting = [.sortedKeys]
        try save("fuzz-config", "tiny-with-set.json", joined([
            Array(try compact.encode(configuration)),
            Array("model.experts=8\noptimizer.learningRate=5e-4\nmodel.router=expert-choice\nmodel.routerOptions.capacityFactor=2\ntraces=false\n".utf8),
        ]))
        try save("fuzz-config", "set-only.txt", joined([[], Array("model.router=top-2\nepochs=1\ndata.trainLimit=256\n".utf8)]))

        // JSON Lines: two step records and an epoch record, as MetricsLog writes them (sorted
        // keys, non-finite numbers as strings).
        try save("fuzz-jsonl", "metrics.jsonl", Array("""
            {"auxiliaryLoss":0.1,"crossEntropy":2,"droppedTokens":[0,1],"epoch":0,"gradientNorm":"nan","imagesPerSecond":812.5,"learningRate":0.001,"loadCV":[0.25,0],"loss":2.1,"step":10,"tokensPerExpert":[[10,6],[8,8]]}
            {"auxiliaryLoss":0.05,"crossEntropy":1.5,"droppedTokens":[2,0],"epoch":1,"gradientNorm":1.25,"imagesPerSecond":790,"learningRate":0.0005,"loadCV":[0,0.5],"loss":1.55,"step":20,"tokensPerExpert":[[9,7],[16,0]]}

            """.utf8))
        try save("fuzz-jsonl", "epochs.jsonl", Array("""
            {"epoch":1,"evaluationSeconds":0.5,"imagesPerSecond":600,"perClassAccuracy":[0.5,0.4,"inf"],"step":16,"testAccuracy":0.45,"testLoss":1.7,"trace":"traces/epoch-1.sytrace","trainAccuracy":0.4,"trainLoss":1.9,"trainSeconds":3.5}

            """.utf8))

        // Notebooks: prose, a block with its output, a continued command with quotes and a
        // comment, another fence, paths inside and outside the allowed directories.
        try save("fuzz-notebook", "quickstart.md", Array("""
            # A notebook

            The routers:

            ```switchyard
            routers
            ```

            <!-- switchyard:output -->
            ```text
            dense
            switch
            ```
            <!-- switchyard:end -->

            Train, then analyse:

            ```switchyard
            # the tiny preset
            switchyard train --preset tiny --router 'top-2' \\
                  --set "data.trainLimit=256" --out runs/a/tiny
            ```

            ```sh
            cat runs/a/tiny/summary.json | head
            ```

            ~~~switchyard
            not a block
            ~~~

            ```switchyard
            analyze runs/a/tiny --json=runs/a/analysis.json --bootstrap 0 data/x.csv trace.csv
            ```

            """.utf8))
        try save("fuzz-notebook", "paths.md", Array("""
            ```switchyard
            analyze ../outside.csv --config=data/../../x.json --data-dir dangling
            ```
            \r
            ```switchyard
            report runs/a --out /tmp/elsewhere
            ```
            """.utf8))
        // A run directory: config.json, epochs.jsonl, summary.json and metrics.jsonl of a
        // two-epoch tiny run; the same with an emptied epoch log, without config.json, and
        // with a torn last epoch record.
        var run = configuration
        run.epochs = 2
        let runConfiguration = Array(try encoder.encode(run))
        let epochLines = Array("""
            {"epoch":1,"evaluationSeconds":0.5,"imagesPerSecond":600,"perClassAccuracy":[0.5,0.4],"step":32,"testAccuracy":0.45,"testLoss":1.7,"trace":"traces/epoch-1.sytrace","trainAccuracy":0.4,"trainLoss":1.9,"trainSeconds":3.5}
            {"epoch":2,"evaluationSeconds":0.5,"imagesPerSecond":610,"perClassAccuracy":[0.6,0.5],"step":64,"testAccuracy":0.55,"testLoss":1.4,"trace":"traces/epoch-2.sytrace","trainAccuracy":0.5,"trainLoss":1.5,"trainSeconds":3.4}

            """.utf8)
        let summaryJSON = Array("""
            {"blasKernels":"Haswell","classNames":["a","b"],"epochs":2,"evaluationParameterCount":45066,"imagesPerSecond":600,\
            "parameterCount":45066,"perClassAccuracy":[0.6,0.5],"preset":"tiny","router":"switch",\
            "routerOptions":{"trainingCapacityFactor":"1.25"},"seed":0,"steps":64,"testAccuracy":0.55,"threads":1,"trainSeconds":6.9}
            """.utf8)
        let stepLines = Array("""
            {"auxiliaryLoss":0.1,"crossEntropy":2,"droppedTokens":[0,1],"epoch":0,"gradientNorm":1.5,"imagesPerSecond":812.5,"learningRate":0.001,"loadCV":[0.25,0],"loss":2.1,"step":5,"tokensPerExpert":[[10,6],[8,8]]}

            """.utf8)
        try save("fuzz-run-directory", "finished.run", joined([runConfiguration, epochLines, summaryJSON, stepLines]))
        try save("fuzz-run-directory", "emptied-epochs.run", joined([runConfiguration, [], summaryJSON, stepLines]))
        try save("fuzz-run-directory", "no-config.run", joined([[], epochLines, [], stepLines]))
        try save("fuzz-run-directory", "torn-epoch.run", joined([runConfiguration, Array(epochLines.prefix(260)), [], stepLines]))

        // Notebook policy: one argument per line; accepted and refused paths, values after a
        // second '=', outputs in runs/ and reports/, over the notebook, through links.
        let commands = [
            "train\n--preset\ntiny\n--set=data.directory=data/fmnist\n--router-option=capacityFactor=2\n--out\nruns/a/b",
            "analyze\nruns/a\n--json=reports/analysis.json\n--data-dir\ndata\ntrace.csv",
            "report\nruns/a\n--out\n.\n--set\ndata.directory=../x",
            "analyze\nruns/alias.md\n--json\nruns/alias.md\n--trace=runs/out/x\n--config=runs/dangling/c.json",
            "eval\nruns/a\n--\n-x/../../y\nk=v=/etc/passwd\n--out=nb.md",
        ]
        for (i, command) in commands.enumerated() { try save("fuzz-notebook-policy", "command-\(i + 1).txt", Array(command.utf8)) }

        // Expert placements (simulate --placement): one list for every layer; the per-layer JSON
        // that --save-placement writes; CSV for every layer; CSV per layer with a BOM and CRLF.
        try save("fuzz-placement", "list.json", Array("[0, 0, 1, 1, 2, 2, 3, 3]".utf8))
        try save("fuzz-placement", "per-layer.json", Array(("{\n  \"devices\": 4,\n  \"experts\": 8,\n  \"placement\": \"balanced\",\n"
            + "  \"layers\": [\n    {\"layer\": 1, \"devices\": [0, 1, 2, 3, 3, 2, 1, 0]},\n"
            + "    {\"layer\": 3, \"devices\": [3, 3, 2, 2, 1, 1, 0, 0]}\n  ]\n}\n").utf8))
        try save("fuzz-placement", "experts.csv", Array(("expert,device\n" + (0..<8).map { "\($0),\($0 / 2)\n" }.joined()).utf8))
        try save("fuzz-placement", "layers.csv", Array(("\u{FEFF}layer,expert,device\r\n"
            + [1, 3].flatMap { l in (0..<8).map { "\(l),\($0),\(($0 + l) % 4)\r\n" } }.joined()).utf8))
        print("fuzz-seeds: wrote the corpora under \(root)")
    }

    /// A version 1.0 .npy file of little-endian values with `shape`.
    static func npy(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + data
    }
    static func npy(int64 values: [Int64], shape: [Int]) -> [UInt8] {
        npy(descr: "<i8", shape: shape, data: values.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } })
    }
    static func npy(int32 values: [Int32], shape: [Int]) -> [UInt8] {
        npy(descr: "<i4", shape: shape, data: values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } })
    }
    static func npy(float32 values: [Float], shape: [Int]) -> [UInt8] {
        npy(descr: "<f4", shape: shape, data: values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) } })
    }
    static func npy(float64 values: [Double], shape: [Int]) -> [UInt8] {
        npy(descr: "<f8", shape: shape, data: values.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) } })
    }
}
