// swift-tools-version:6.1
//
// libFuzzer targets for every parser of Switchyard, one executable per input format
// (docs/reliability.md). A separate package, so that the root Package.swift keeps no
// unsafe compiler-flag settings: the sanitizer flags are given on the command line by scripts/fuzz.sh:
//
//   swift build -c release --package-path Fuzz --scratch-path Fuzz/.build-fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld
//
// Each target is one small file: LLVMFuzzerTestOneInput feeds the bytes to the real parser
// (through a file in a per-process temporary directory, since the parsers read files), and
// a @main type hands control to libFuzzer (Sources/CLibFuzzer explains why).
import PackageDescription

/// Each fuzz target: its name and the Switchyard products its parser lives in.
let targets: [(name: String, products: [String])] = [
    ("fuzz-idx", ["SwitchyardDatasets"]),
    ("fuzz-cifar", ["SwitchyardDatasets"]),
    ("fuzz-gzip", []),
    ("fuzz-trace-csv", ["SwitchyardTraces"]),
    ("fuzz-trace-sample", ["SwitchyardTraces", "SwitchyardTensorCore"]),
    ("fuzz-export-meta", ["SwitchyardTraces"]),
    ("fuzz-megatron", ["SwitchyardTraces"]),
    ("fuzz-npy", ["SwitchyardTraces", "SwitchyardRoutingStatistics"]),
    ("fuzz-sytrace", ["SwitchyardTraces", "SwitchyardRoutingStatistics"]),
    ("fuzz-checkpoint", ["SwitchyardTraining"]),
    ("fuzz-config", ["SwitchyardTraining"]),
    ("fuzz-jsonl", ["SwitchyardTraining"]),
    ("fuzz-notebook", ["SwitchyardNotebooks"]),
    ("fuzz-run-directory", ["SwitchyardTraining"]),
    ("fuzz-notebook-policy", ["SwitchyardNotebooks"]),
    ("fuzz-placement", ["SwitchyardCostModel", "SwitchyardTraces"]),
]

let package = Package(
    name: "SwitchyardFuzz",
    dependencies: [
        .package(name: "Switchyard", path: ".."),
    ],
    targets: [
        // Temporary files, input splitting and the "only InputError" rule shared by every target.
        .target(name: "FuzzSupport", dependencies: [
            "CLibFuzzer", .product(name: "SwitchyardFileIO", package: "Switchyard"), .product(name: "SwitchyardTraces", package: "Switchyard"),
        ]),
        // libFuzzer's driver, called by each target's entry point (see its header).
        .target(name: "CLibFuzzer"),
    ] + targets.map { target in
        .executableTarget(
            name: target.name,
            dependencies: ["FuzzSupport", .product(name: "SwitchyardFileIO", package: "Switchyard")] + target.products.map { .product(name: $0, package: "Switchyard") })
    } + [
        // Writes the seed corpora (Fuzz/Corpus) with Switchyard's own writers.
        .executableTarget(
            name: "fuzz-seeds",
            dependencies: ["SwitchyardDatasets", "SwitchyardTraces", "SwitchyardTraining", "SwitchyardFileIO", "SwitchyardCostModel"].map { .product(name: $0, package: "Switchyard") }),
    ],
    swiftLanguageModes: [.v5]
)
