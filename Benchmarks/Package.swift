// swift-tools-version:6.1
import Foundation
import PackageDescription

// The library is the package one folder up. A path dependency is named by its folder, which
// differs between checkouts, so the name is read from this manifest's own path.
let library = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let package = Package(
    name: "swift-reactor-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        // Preloaded into the RESP and HTTP servers by reactor-bench redis and http, to count their allocations.
        .library(name: "MallocCounter", type: .dynamic, targets: ["MallocCounter"]),
    ],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // The benchmark driver: starts each server, runs the load, prints the tables.
        .executableTarget(
            name: "reactor-bench",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // The processes it drives, built beside it.
                .product(name: "reactor-echo", package: library),
                .product(name: "reactor-redis", package: library),
                .product(name: "reactor-http", package: library),
                "nio-echo", "nio-redis", "nio-http", "hummingbird-http", "bench-c-echo", "bench-c-uring-echo", "bench-c-tls-echo", "bench-c-udp-echo", "bench-loadgen", "coordination-bench", "subprocess-bench",
            ]
        ),
        // The timing loop of the workload executables.
        .target(name: "BenchTiming", dependencies: [.product(name: "Reactor", package: library)]),
        // The coordination primitives' workloads (reactor-bench coordination), with Swift's
        // AsyncStream and swift-async-algorithms' AsyncChannel beside ours.
        .executableTarget(
            name: "coordination-bench",
            dependencies: [
                "BenchTiming",
                .product(name: "Reactor", package: library),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // The subprocess workloads (reactor-bench subprocesses), with swift-subprocess's.
        .executableTarget(
            name: "subprocess-bench",
            dependencies: [
                "BenchTiming",
                .product(name: "Reactor", package: library),
                .product(name: "ReactorStreams", package: library),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // SwiftNIO echo servers: a ChannelInboundHandler (over NIOSSL too), and NIOAsyncChannel.
        .executableTarget(
            name: "nio-echo",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A SwiftNIO RESP server: a ByteToMessageDecoder and a handler.
        .executableTarget(
            name: "nio-redis",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A SwiftNIO HTTP/1.1 server: NIO's HTTP server pipeline and a handler (over NIOSSL too).
        .executableTarget(
            name: "nio-http",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A Hummingbird 2 HTTP/1.1 server: its Router in an Application.
        .executableTarget(
            name: "hummingbird-http",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Two ways to park a task, for callgrind: a continuation and a hop onto an executor.
        .executableTarget(name: "park-probe"),
        .target(name: "MallocCounter"),
        // The floor: a minimal C epoll echo server.
        // What the C floors share (their command line).
        .target(name: "BenchFloor"),
        .executableTarget(name: "bench-c-echo", dependencies: ["BenchFloor"]),
        // The io_uring floor: the same in completion mode, over liburing.
        .executableTarget(name: "bench-c-uring-echo", dependencies: ["BenchFloor"], linkerSettings: [.linkedLibrary("uring")]),
        // The TLS floor: the same over the system's OpenSSL.
        .executableTarget(name: "bench-c-tls-echo", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // The UDP floor: a minimal C recvfrom / sendto echo.
        .executableTarget(name: "bench-c-udp-echo", dependencies: ["BenchFloor"]),
        // The load generator: C over raw epoll (and OpenSSL for TLS), not built on the code
        // under test.
        .executableTarget(name: "bench-loadgen", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // Micro-benchmarks with malloc counts (package-benchmark).
        .executableTarget(
            name: "ReactorMicro",
            dependencies: [
                .product(name: "Reactor", package: library),
                .product(name: "ReactorStreams", package: library),
                .product(name: "Benchmark", package: "benchmark"),
                // The blocking pool's peer: NIOThreadPool. The queue's: AsyncChannel.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            path: "Benchmarks/ReactorMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
