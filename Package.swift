// swift-tools-version:6.1
//
// Switchyard: a Swift toolkit for research on Mixture-of-Experts routing.
// No unsafe compiler-flag settings here: optimisation flags live in the Makefile, so that other
// packages can depend on Switchyard to write their own routers.
import PackageDescription

let package = Package(
    name: "Switchyard",
    products: [
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "FileIO", targets: ["FileIO"]),
        .library(name: "Routing", targets: ["Routing"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Traces", targets: ["Traces"]),
        .library(name: "VisionTransformer", targets: ["VisionTransformer"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "RoutingStatistics", targets: ["RoutingStatistics"]),
        .library(name: "Notebooks", targets: ["Notebooks"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "SwitchyardCLI", targets: ["SwitchyardCLI"]),
        .library(name: "Charts", targets: ["Charts"]),
        .executable(name: "switchyard", targets: ["switchyard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries: one C module each, kept apart (their cblas enums clash).
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CGSL", pkgConfig: "gsl",
            providers: [.apt(["libgsl-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // Float32 tensors, GEMM through OpenBLAS, fused kernels, seeded RNG.
        .target(name: "TensorCore", dependencies: ["COpenBLAS"]),

        // Reading gzip or raw files, atomic writes, and the error type for bad input.
        .target(name: "FileIO", dependencies: ["CZlib"]),

        // The Router protocol, RoutingPlan, the router registry and every router.
        .target(name: "Routing", dependencies: ["TensorCore", "FileIO"]),

        // Model layers with explicit forward/backward, the MoE layer, losses, AdamW.
        .target(name: "Layers", dependencies: ["TensorCore", "Routing"]),

        // Image data sets: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary, batching.
        .target(name: "Datasets", dependencies: ["TensorCore", "FileIO"]),

        // Routing traces: the in-memory form, Switchyard's file format, CSV and NPY import.
        .target(name: "Traces", dependencies: ["FileIO", "CZlib"]),

        // Statistics on routing traces, on GNU GSL.
        .target(name: "RoutingStatistics", dependencies: ["CGSL", "Traces", "FileIO"]),

        // Markdown reports on runs and comparisons of runs, with SVG charts.
        .target(name: "Reports", dependencies: ["Charts", "RoutingStatistics", "Training", "Traces", "FileIO"]),

        // The Vision Transformer with MoE feed-forward blocks.
        .target(name: "VisionTransformer", dependencies: ["Layers", "Routing", "TensorCore", "FileIO"]),

        // Training runs: configurations and presets, the loop, checkpoints, metrics, traces.
        .target(name: "Training", dependencies: ["VisionTransformer", "Layers", "Routing", "Datasets", "Traces", "FileIO", "TensorCore"]),

        // Markdown notebooks: parsing, shell-free tokenising, the path policy, running blocks.
        .target(name: "Notebooks", dependencies: ["FileIO"]),

        // Deterministic SVG charts (line, bar, heatmap, histogram) for markdown reports.
        .target(name: "Charts"),

        // Benchmarks behind `switchyard bench`: GEMM, training throughput (with model FLOPs and
        // the sgemm peak) and the routing microbenchmark; bench/ holds the PyTorch reference.
        .target(name: "Benchmarks", dependencies: ["TensorCore", "COpenBLAS", "Layers", "Routing", "Training", "VisionTransformer"]),

        // The command-line interface as a library, so that a user's package can register
        // its own routers and run the same commands (see docs/custom-router.md).
        .target(
            name: "SwitchyardCLI",
            dependencies: [
                "TensorCore", "Benchmarks", "Routing", "Training", "Traces", "FileIO", "VisionTransformer", "Datasets",
                "RoutingStatistics", "Reports", "Notebooks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "switchyard", dependencies: ["SwitchyardCLI"]),

        // Finite-difference gradient checking shared by the tests.
        .target(name: "SwitchyardTestSupport", dependencies: ["TensorCore"], path: "Tests/SwitchyardTestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "Layers", "TensorCore", "SwitchyardTestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Routing", "TensorCore", "VisionTransformer", "SwitchyardTestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "FileIO", "TensorCore"]),
        .testTarget(name: "TracesTests", dependencies: ["Traces", "FileIO"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Traces", "Datasets", "FileIO", "Routing", "TensorCore"]),
        .testTarget(name: "SwitchyardCLITests", dependencies: ["SwitchyardCLI", "TensorCore"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "VisionTransformer", "Training", "Routing", "TensorCore"]),
        .testTarget(name: "RoutingStatisticsTests", dependencies: ["RoutingStatistics", "Traces"]),
        .testTarget(name: "NotebooksTests", dependencies: ["Notebooks", "FileIO"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Training", "RoutingStatistics", "FileIO"],
                    exclude: ["Fixtures", "Snapshots"]),
        .testTarget(name: "ChartsTests", dependencies: ["Charts", "CZlib"]),
    ],
    swiftLanguageModes: [.v5]
)
