// swift-tools-version:6.1
//
// Switchyard: a Swift toolkit for research on Mixture-of-Experts routing.
// No unsafe compiler-flag settings here: optimisation flags live in the Makefile, so that other
// packages can depend on Switchyard to write their own routers.
import PackageDescription

let package = Package(
    name: "Switchyard",
    products: [
        .library(name: "SwitchyardTensorCore", targets: ["SwitchyardTensorCore"]),
        .library(name: "SwitchyardFileIO", targets: ["SwitchyardFileIO"]),
        .library(name: "SwitchyardRouting", targets: ["SwitchyardRouting"]),
        .library(name: "SwitchyardLayers", targets: ["SwitchyardLayers"]),
        .library(name: "SwitchyardDatasets", targets: ["SwitchyardDatasets"]),
        .library(name: "SwitchyardTraces", targets: ["SwitchyardTraces"]),
        .library(name: "SwitchyardVisionTransformer", targets: ["SwitchyardVisionTransformer"]),
        .library(name: "SwitchyardTraining", targets: ["SwitchyardTraining"]),
        .library(name: "SwitchyardRoutingStatistics", targets: ["SwitchyardRoutingStatistics"]),
        .library(name: "SwitchyardNotebooks", targets: ["SwitchyardNotebooks"]),
        .library(name: "SwitchyardReports", targets: ["SwitchyardReports"]),
        .library(name: "SwitchyardSweeps", targets: ["SwitchyardSweeps"]),
        .library(name: "SwitchyardCLI", targets: ["SwitchyardCLI"]),
        .library(name: "SwitchyardCharts", targets: ["SwitchyardCharts"]),
        // Finite-difference gradient checking, for tests of routers written in other packages.
        .library(name: "SwitchyardTestSupport", targets: ["SwitchyardTestSupport"]),
        .library(name: "SwitchyardCostModel", targets: ["SwitchyardCostModel"]),
        .library(name: "SwitchyardParallelism", targets: ["SwitchyardParallelism"]),
        .executable(name: "switchyard", targets: ["switchyard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
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
        .target(name: "SwitchyardTensorCore", dependencies: ["COpenBLAS"]),

        // Reading gzip or raw files, atomic writes, and the error type for bad input.
        .target(name: "SwitchyardFileIO", dependencies: ["CZlib"]),

        // The Router protocol, RoutingPlan, the router registry and every router.
        .target(name: "SwitchyardRouting", dependencies: ["SwitchyardTensorCore", "SwitchyardFileIO"]),

        // Model layers with explicit forward/backward, the MoE layer, losses, AdamW.
        .target(name: "SwitchyardLayers", dependencies: ["SwitchyardTensorCore", "SwitchyardRouting", "SwitchyardParallelism"]),

        // Expert parallelism without a transport: the collectives it needs (`Communicator`),
        // which experts a rank owns, the per-step exchange measurements. Open MPI's communicator
        // is the MPI/ package's, outside this build.
        .target(name: "SwitchyardParallelism", dependencies: ["SwitchyardFileIO"]),

        // Image data sets: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary, batching.
        .target(name: "SwitchyardDatasets", dependencies: ["SwitchyardTensorCore", "SwitchyardFileIO"]),

        // Routing traces: the in-memory form, Switchyard's file format, CSV and NPY import.
        .target(name: "SwitchyardTraces", dependencies: ["SwitchyardFileIO"]),

        // Statistics on routing traces, on GNU GSL.
        .target(name: "SwitchyardRoutingStatistics", dependencies: ["CGSL", "SwitchyardTraces", "SwitchyardFileIO"]),

        // What a trace's routing costs under expert parallelism: loads, all-to-all volume,
        // drops, straggler factor, step time; expert placement.
        .target(name: "SwitchyardCostModel", dependencies: ["SwitchyardTraces", "SwitchyardFileIO"]),

        // Markdown reports on runs and comparisons of runs, with SVG charts.
        .target(name: "SwitchyardReports", dependencies: ["SwitchyardCharts", "SwitchyardRoutingStatistics", "SwitchyardCostModel", "SwitchyardTraining", "SwitchyardParallelism", "SwitchyardTraces", "SwitchyardFileIO"]),

        // The Vision Transformer with MoE feed-forward blocks.
        .target(name: "SwitchyardVisionTransformer", dependencies: ["SwitchyardLayers", "SwitchyardRouting", "SwitchyardTensorCore", "SwitchyardFileIO"]),

        // Training runs: configurations and presets, the loop, checkpoints, metrics, traces.
        .target(name: "SwitchyardTraining", dependencies: ["SwitchyardVisionTransformer", "SwitchyardLayers", "SwitchyardParallelism", "SwitchyardRouting", "SwitchyardDatasets", "SwitchyardTraces", "SwitchyardFileIO", "SwitchyardTensorCore"]),

        // Markdown notebooks: parsing, shell-free tokenising, the path policy, running blocks.
        .target(name: "SwitchyardNotebooks", dependencies: ["SwitchyardFileIO"]),

        // Deterministic SVG charts (line, bar, heatmap, histogram) for markdown reports.
        .target(name: "SwitchyardCharts"),

        // Sweeps: a spec (YAML or JSON) expanded into a manifest of runs, run on the local cores
        // or as a Slurm job array, resumable (docs/sweeps.md).
        .target(name: "SwitchyardSweeps", dependencies: ["SwitchyardTraining", "SwitchyardFileIO", .product(name: "Yams", package: "Yams")]),

        // Benchmarks behind `switchyard bench`: GEMM, training throughput (with model FLOPs and
        // the sgemm peak) and the routing microbenchmark; bench/ holds the PyTorch reference.
        .target(name: "SwitchyardBenchmarks", dependencies: ["SwitchyardTensorCore", "COpenBLAS", "SwitchyardLayers", "SwitchyardParallelism", "SwitchyardTraces", "SwitchyardRouting", "SwitchyardTraining", "SwitchyardVisionTransformer"]),

        // The command-line interface as a library, so that a user's package can register
        // its own routers and run the same commands (see docs/custom-router.md).
        .target(
            name: "SwitchyardCLI",
            dependencies: [
                "SwitchyardTensorCore", "SwitchyardBenchmarks", "SwitchyardRouting", "SwitchyardTraining", "SwitchyardTraces", "SwitchyardFileIO", "SwitchyardVisionTransformer", "SwitchyardDatasets",
                "SwitchyardRoutingStatistics", "SwitchyardReports", "SwitchyardNotebooks", "SwitchyardSweeps", "SwitchyardCostModel",
                "SwitchyardParallelism", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "switchyard", dependencies: ["SwitchyardCLI"]),

        // Finite-difference gradient checking shared by the tests.
        .target(name: "SwitchyardTestSupport", dependencies: ["SwitchyardTensorCore"], path: "Tests/SwitchyardTestSupport"),
        .testTarget(name: "SwitchyardTensorCoreTests", dependencies: ["SwitchyardTensorCore"]),
        .testTarget(name: "SwitchyardRoutingTests", dependencies: ["SwitchyardRouting", "SwitchyardLayers", "SwitchyardTensorCore", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardLayersTests", dependencies: ["SwitchyardLayers", "SwitchyardRouting", "SwitchyardTensorCore", "SwitchyardVisionTransformer", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardDatasetsTests", dependencies: ["SwitchyardDatasets", "SwitchyardFileIO", "SwitchyardTensorCore"]),
        .testTarget(name: "SwitchyardFileIOTests", dependencies: ["SwitchyardFileIO"]),
        .testTarget(name: "SwitchyardTracesTests", dependencies: ["SwitchyardTraces", "SwitchyardFileIO", "SwitchyardTensorCore", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardTrainingTests", dependencies: ["SwitchyardTraining", "SwitchyardParallelism", "SwitchyardTraces", "SwitchyardDatasets", "SwitchyardFileIO", "SwitchyardRouting", "SwitchyardTensorCore", "SwitchyardVisionTransformer"]),
        .testTarget(name: "SwitchyardCLITests", dependencies: ["SwitchyardCLI", "SwitchyardTensorCore", "SwitchyardTraining", "SwitchyardCostModel", "SwitchyardTraces", "SwitchyardFileIO", "SwitchyardRoutingStatistics"]),
        .testTarget(name: "SwitchyardBenchmarksTests", dependencies: ["SwitchyardBenchmarks", "SwitchyardVisionTransformer", "SwitchyardTraining", "SwitchyardRouting", "SwitchyardTensorCore"]),
        .testTarget(name: "SwitchyardRoutingStatisticsTests", dependencies: ["SwitchyardRoutingStatistics", "SwitchyardTraces", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardNotebooksTests", dependencies: ["SwitchyardNotebooks", "SwitchyardFileIO"]),
        .testTarget(name: "SwitchyardReportsTests", dependencies: ["SwitchyardReports", "SwitchyardTraining", "SwitchyardRoutingStatistics", "SwitchyardFileIO", "SwitchyardCostModel", "SwitchyardTraces"],
                    exclude: ["Fixtures", "Snapshots"]),
        .testTarget(name: "SwitchyardSweepsTests", dependencies: ["SwitchyardSweeps", "SwitchyardTraining", "SwitchyardFileIO"]),
        .testTarget(name: "SwitchyardCostModelTests", dependencies: ["SwitchyardCostModel", "SwitchyardTraces", "SwitchyardFileIO"]),
        .testTarget(name: "SwitchyardChartsTests", dependencies: ["SwitchyardCharts", "CZlib"]),
        // Checks that docs/architecture.md's module table matches this manifest.
        .testTarget(name: "SwitchyardArchitectureTests"),
    ],
    swiftLanguageModes: [.v5]
)

// Expert parallelism over Open MPI (docs/expert-parallel.md), only when SWITCHYARD_MPI=1 is set:
// without it nothing here is built, so a user without MPI builds Switchyard as usual. `make mpi`
// installs Open MPI (scripts/install-mpi.sh) and builds `switchyard-mpi` into .build beside
// `switchyard`, sharing its compiled modules:
//
//   SWITCHYARD_MPI=1 swift build -c release ... --product switchyard-mpi
if Context.environment["SWITCHYARD_MPI"] == "1" {
    package.products += [
        .library(name: "SwitchyardMPI", targets: ["SwitchyardMPI"]),
        .executable(name: "switchyard-mpi", targets: ["switchyard-mpi"]),
        .executable(name: "switchyard-mpi-check", targets: ["switchyard-mpi-check"]),
    ]
    package.targets += [
        // Open MPI's C API, with accessors for the handles mpi.h defines as macros.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),

        // MPICommunicator: SwitchyardParallelism's Communicator over MPI_COMM_WORLD.
        .target(name: "SwitchyardMPI", dependencies: ["CMPI", "SwitchyardParallelism"]),

        // `switchyard` with CommunicatorProvider set to Open MPI's.
        .executableTarget(name: "switchyard-mpi", dependencies: ["SwitchyardMPI", "SwitchyardCLI", "SwitchyardParallelism"]),

        // The transport's test: each collective on P ranks, and the fault options.
        .executableTarget(name: "switchyard-mpi-check", dependencies: ["SwitchyardMPI", "CMPI", "SwitchyardParallelism"]),
    ]
}
