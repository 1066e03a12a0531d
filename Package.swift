// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-reactor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "ReactorStreams", targets: ["ReactorStreams"]),
        .executable(name: "reactor-echo", targets: ["reactor-echo"]),
    ],
    traits: [
        .trait(
            name: "PortableCancellation",
            description: "Park tasks through the public withTaskCancellationHandler instead of the concurrency runtime's cancellation-handler entry points: slower, and relying on nothing private."
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "CReactor",
            cSettings: [.define("CR_PORTABLE_CANCELLATION", .when(traits: ["PortableCancellation"]))]
        ),
        .target(
            name: "Reactor",
            dependencies: [
                "CReactor",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ReactorStreams",
            dependencies: [
                "Reactor",
                "CReactor",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "reactor-echo",
            dependencies: [
                "Reactor",
                "ReactorStreams",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "ReactorStreams", "CReactor"]),
    ]
)
