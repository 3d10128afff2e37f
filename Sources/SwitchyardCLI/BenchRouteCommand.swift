import ArgumentParser
import SwitchyardBenchmarks
import SwitchyardFileIO
import Foundation
import SwitchyardRouting
import SwitchyardTensorCore

/// `switchyard bench route`: the routing microbenchmark (route + dispatch + combine, forward and
/// backward) over a grid of tokens, width, experts and k.
struct BenchRouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Time route + dispatch + combine of one MoE layer call, forward and backward, over a grid of n, d, E and k.",
        discussion: """
        Each cell builds the router for E experts of width d and times, per MoE layer call: \
        route (gate GEMM, softmax, selection, capacity, auxiliary loss), dispatch (gather of each \
        expert's tokens) and combine (weighted scatter-add), then the backward of all three \
        (combine-weight gradients, scatter of the input gradients, the router's backward into \
        its gate and the input). These are the MoE layer's own functions (MoEDataMovement). \
        Expert compute is NOT included: the expert is the identity. Training mode, fixed seed.

        Each cell runs --repetitions rounds of enough calls to last --round-seconds after two \
        untimed calls and reports the median, in ns per token. The table gives the scaling \
        ratios t(n)/t(n′) beside n/n′ (linear in n gives the same number) and t(E)/t(E′) beside \
        the E·log E bound (E log₂E)/(E′ log₂E′), between consecutive grid values.

        k: top-1 routers (switch, dense, random-batch) take k = 1; top-2 takes k = 2 (second \
        policy 'all'); expert-choice uses capacityFactor = k; routers with a k option \
        (noisy-top-k, random-token) use it, and cells with k > E are skipped. Without --k, a \
        router's natural values are used (1 and 2 where it has a choice).

        Memory: a cell needs about 4·(4·n·d + 2·a·d + c·n·E) bytes (a assignments, c the \
        router's n × E buffers, 3 for switch, 9 for noisy-top-k); cells above --memory-limit \
        GiB are skipped and say so. n = 10⁶, d = 64 needs 256 MB per n × d buffer.

        Run it from a release build (make release). Examples:
          switchyard bench route
          switchyard bench route --router expert-choice --k 1,2 --json bench/route-ec.json
          switchyard bench route --tokens 1000,10000 --experts 4,8 --repetitions 3
          switchyard bench route --router noisy-top-k --k 2 --experts 8,64 --width 128
        """
    )

    @Option(help: ArgumentHelp("The router (see `switchyard routers`).", valueName: "name"))
    var router = "switch"

    @Option(help: ArgumentHelp("Token counts n, comma-separated.", valueName: "n,n,…"))
    var tokens = "1000,10000,100000,1000000"

    @Option(help: "Token width d.")
    var width = 64

    @Option(help: ArgumentHelp("Expert counts E, comma-separated.", valueName: "E,E,…"))
    var experts = "2,4,8,16,32,64,128,256"

    @Option(help: ArgumentHelp("Experts per token k, comma-separated (default: the router's natural values).", valueName: "k,k,…"))
    var k: String?

    @Option(name: .customLong("router-option"), help: ArgumentHelp("A router hyperparameter, NAME=VALUE (repeatable); wins over k's.", valueName: "name=value"))
    var routerOptions: [String] = []

    @Option(help: "Timed rounds per cell; the median is reported.")
    var repetitions = 5

    @Option(name: .customLong("round-seconds"), help: "Minimum length of one timed round, seconds.")
    var roundSeconds = 0.05

    @Option(name: .customLong("memory-limit"), help: "Skip cells whose estimated memory exceeds this many GiB.")
    var memoryLimit = 8.0

    @Option(help: "OpenBLAS threads (for the router's gate GEMMs).")
    var threads = 2

    @Option(help: "Seed of the inputs and the routers.")
    var seed = 0

    @Option(help: "Also write every cell as JSON to this file.")
    var json: String?

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    /// A comma-separated list of positive integers.
    static func parseList(_ text: String, option: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var values: [Int] = []
        for part in parts {
            guard let value = Int(part.replacingOccurrences(of: "_", with: "")), value >= 1 else {
                throw ValidationError("\(option) takes comma-separated whole numbers ≥ 1, e.g. 1000,10000; '\(part)' is not one")
            }
            values.append(value)
        }
        return values
    }

    func grid() throws -> RoutingBenchmark.Grid {
        let options = try JSONOverrides.parse(routerOptions, option: "--router-option")
        return RoutingBenchmark.Grid(
            router: router, tokens: try Self.parseList(tokens, option: "--tokens"), width: width,
            experts: try Self.parseList(experts, option: "--experts"),
            ks: try k.map { try Self.parseList($0, option: "--k") } ?? RoutingBenchmark.defaultKs(router: router),
            routerOptions: Dictionary(options.map { ($0.path, $0.text) }, uniquingKeysWith: { $1 }),
            repetitions: repetitions, roundSeconds: roundSeconds,
            memoryLimitBytes: Int(memoryLimit * Double(1 << 30)), seed: UInt64(seed))
    }

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be 1 to 256, got \(threads)") }
        guard seed >= 0 else { throw ValidationError("--seed must be 0 or more, got \(seed)") }
        guard memoryLimit > 0 && memoryLimit.isFinite else { throw ValidationError("--memory-limit must be a number of GiB > 0") }
        do {
            try RoutingBenchmark.validate(try grid())
        } catch let error as BenchmarkError {
            throw ValidationError(error.description)
        } catch let error as InputError {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        ComputeThreads.count = threads
        let quiet = self.quiet
        let cells = try RoutingBenchmark.run(try grid()) { line in
            if !quiet { FileHandle.standardError.write(Data(("bench route: " + line + "\n").utf8)) }
        }
        print("bench route: router \(router), d \(width), \(threads) thread\(threads == 1 ? "" : "s"), \(repetitions) round\(repetitions == 1 ? "" : "s") of ≥ \(roundSeconds) s per cell")
        print("OpenBLAS kernels: \(BLASKernels.summary)")
        print("")
        print(RoutingBenchmark.markdown(cells))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(encoder.encode(RouteBenchmarkFile(router: router, width: width, threads: threads,
                                                                   blasKernels: BLASKernels.summary,
                                                                   repetitions: repetitions, cells: cells)), to: json)
        }
    }
}

/// What `bench route --json` writes.
struct RouteBenchmarkFile: Encodable {
    /// The router.
    var router: String
    /// Token width d.
    var width: Int
    /// Compute threads (OpenBLAS itself runs at one).
    var threads: Int
    /// OpenBLAS's kernel set and how it was chosen (``BLASKernels/summary``).
    var blasKernels: String
    /// Timed rounds per cell.
    var repetitions: Int
    /// Every cell, skipped ones included.
    var cells: [RoutingBenchmark.Cell]
}
