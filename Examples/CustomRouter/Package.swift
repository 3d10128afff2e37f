// swift-tools-version:6.1
//
// A user's own package: it depends on Switchyard, defines a router, registers it, and runs
// Switchyard's whole command line with that router available (docs/custom-router.md).
import PackageDescription

let package = Package(
    name: "CustomRouter",
    dependencies: [
        // A user writes .package(url: "https://…/Switchyard.git", from: "0.1.0"); this example
        // lives inside the Switchyard checkout and uses it by path.
        .package(name: "Switchyard", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "my-switchyard",
            dependencies: [
                .product(name: "SwitchyardRouting", package: "Switchyard"),
                .product(name: "SwitchyardTensorCore", package: "Switchyard"),
                .product(name: "SwitchyardCLI", package: "Switchyard"),
            ]),
    ],
    swiftLanguageModes: [.v5]
)
