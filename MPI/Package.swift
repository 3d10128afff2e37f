// swift-tools-version:6.1
//
// Switchyard over Open MPI, for expert-parallel training (docs/expert-parallel.md, "Building and
// running with Open MPI"). A separate package, so that the plain `switchyard` build never needs
// MPI: `make mpi` installs Open MPI (scripts/install-mpi.sh) and builds this package with the
// Makefile's optimisation flags:
//
//   swift build -c release ... --package-path MPI --scratch-path MPI/.build
//
//   switchyard-mpi        the `switchyard` command line with Open MPI's communicator
//                         (`mpirun -np P MPI/.build/release/switchyard-mpi train ... --parallel expert`)
//   switchyard-mpi-check  every collective on P ranks against exact expected values
//                         (scripts/test-expert-parallel.sh)
import PackageDescription

let package = Package(
    name: "SwitchyardMPI",
    products: [
        .library(name: "SwitchyardMPI", targets: ["SwitchyardMPI"]),
        .executable(name: "switchyard-mpi", targets: ["switchyard-mpi"]),
        .executable(name: "switchyard-mpi-check", targets: ["switchyard-mpi-check"]),
    ],
    dependencies: [
        .package(name: "Switchyard", path: ".."),
    ],
    targets: [
        // Open MPI's C API, with accessors for the handles mpi.h defines as macros.
        .systemLibrary(
            name: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),

        // MPICommunicator: SwitchyardParallelism's Communicator over MPI_COMM_WORLD.
        .target(name: "SwitchyardMPI", dependencies: ["CMPI", .product(name: "SwitchyardParallelism", package: "Switchyard")]),

        // `switchyard` with CommunicatorProvider set to Open MPI's.
        .executableTarget(name: "switchyard-mpi", dependencies: [
            "SwitchyardMPI", .product(name: "SwitchyardCLI", package: "Switchyard"), .product(name: "SwitchyardParallelism", package: "Switchyard"),
        ]),

        // The transport's test: each collective on P ranks, and the fault options.
        .executableTarget(name: "switchyard-mpi-check", dependencies: [
            "SwitchyardMPI", "CMPI", .product(name: "SwitchyardParallelism", package: "Switchyard"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
