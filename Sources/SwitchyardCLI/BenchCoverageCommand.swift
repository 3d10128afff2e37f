import ArgumentParser
import Foundation
import SwitchyardFileIO
import SwitchyardRoutingStatistics

/// `switchyard bench coverage`: the calibration of `analyze`'s intervals and tests, measured
/// by simulation from known populations.
struct BenchCoverageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coverage",
        abstract: "Coverage of the 95 % intervals and calibration of the tests, by simulation.",
        discussion: """
        Draws --traces traces from each of the harness's known populations (E = 8, 16, 64; strong \
        and weak effects; independent tokens, images of 16 tokens routed alike; nulls with uniform \
        and Zipf(1.2) labels of 1,000 and 50,000 classes and neighbouring tokens routed alike), \
        analyses each with --bootstrap resamples and --permutations permutations, and prints per \
        statistic the share of intervals that contain the true value (with its Wilson 95 % \
        interval) and, under the nulls, the share of p < 0.05 and the Kolmogorov–Smirnov p of the \
        p-values against uniform. Use a release build; the default takes about 5 CPU minutes. \
        See docs/statistics.md.

        Examples:
          switchyard bench coverage
          switchyard bench coverage --traces 50 --scenario 1 --scenario 6 --json coverage.json
        """
    )

    @Option(help: "Simulated traces per scenario.")
    var traces = 100

    @Option(help: "Bootstrap resamples per analysis.")
    var bootstrap = 200

    @Option(help: "Permutations per analysis.")
    var permutations = 200

    @Option(help: "Seed of the populations and traces.")
    var seed: UInt64 = 1

    @Option(help: "Run only these scenarios (1-based numbers, as listed); repeatable.")
    var scenario: [Int] = []

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func validate() throws {
        let most = AnalysisOptions.maximumResamples
        guard traces >= 1 else { throw ValidationError("--traces must be at least 1, got \(traces)") }
        guard (1...most).contains(bootstrap) else { throw ValidationError("--bootstrap must be in 1...\(most), got \(bootstrap)") }
        guard (1...most).contains(permutations) else {
            throw ValidationError("--permutations must be in 1...\(most), got \(permutations)")
        }
        let count = CoverageScenario.standard.count
        for s in scenario where !(1...count).contains(s) {
            throw ValidationError("--scenario must be in 1...\(count), got \(s)")
        }
    }

    func run() throws {
        let all = CoverageScenario.standard
        let chosen = scenario.isEmpty ? Array(all.indices) : scenario.map { $0 - 1 }
        var results: [CoverageScenarioResult] = []
        for i in chosen {
            let result = try CoverageHarness.run(all[i], traces: traces, bootstrap: bootstrap,
                                                 permutations: permutations, seed: seed)
            print(CoverageHarness.markdown([result]))
            results.append(result)
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf",
                                                                          negativeInfinity: "-inf", nan: "nan")
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try AtomicFile.write(encoder.encode(results), to: json)
            print("results written to \(json)")
        }
    }
}
