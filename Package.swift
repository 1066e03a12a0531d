// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-reactor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "ReactorStreams", targets: ["ReactorStreams"]),
        .library(name: "ReactorServiceLifecycle", targets: ["ReactorServiceLifecycle"]),
        .library(name: "ReactorTLS", targets: ["ReactorTLS"]),
        .library(name: "ReactorMetrics", targets: ["ReactorMetrics"]),
        .executable(name: "reactor-echo", targets: ["reactor-echo"]),
        .executable(name: "reactor-service-echo", targets: ["reactor-service-echo"]),
        .library(name: "RESP", targets: ["RESP"]),
        .executable(name: "reactor-redis", targets: ["reactor-redis"]),
        .library(name: "ReactorHTTP", targets: ["ReactorHTTP"]),
        .executable(name: "reactor-http", targets: ["reactor-http"]),
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
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
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
        // TLS over the streams, on the system's OpenSSL 3, in a target of its own so the core
        // keeps its few dependencies.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "ReactorTLS", dependencies: ["COpenSSL", "Reactor", "ReactorStreams"]),
        // Statistics reported through swift-metrics, in a target of its own so the core keeps its
        // few dependencies.
        .target(
            name: "ReactorMetrics",
            dependencies: ["Reactor", "ReactorStreams", .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The adapter that makes a Server a swift-service-lifecycle Service, in a target of its
        // own so the core keeps its few dependencies.
        .target(
            name: "ReactorServiceLifecycle",
            dependencies: [
                "ReactorStreams",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "reactor-service-echo",
            dependencies: [
                "Reactor",
                "ReactorStreams",
                "ReactorServiceLifecycle",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/ServiceEcho"
        ),
        // The Redis-protocol example: its parser, keyspace and commands (a library, which the
        // fuzz target and the benchmarks link too), and the server executable.
        .target(
            name: "RESP",
            dependencies: [
                "Reactor",
                "ReactorStreams",
                "ReactorTLS",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Examples/Redis/RESP"
        ),
        .executableTarget(
            name: "reactor-redis",
            dependencies: [
                "RESP",
                "Reactor",
                "ReactorStreams",
                "ReactorTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/Redis/Server"
        ),
        // The HTTP/1.1 example: the server and client library (which the fuzz target and the
        // benchmarks link too), and reactor-http.
        .target(
            name: "ReactorHTTP",
            dependencies: [
                "Reactor",
                "ReactorStreams",
                "ReactorTLS",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Examples/HTTP/ReactorHTTP"
        ),
        .executableTarget(
            name: "reactor-http",
            dependencies: [
                "ReactorHTTP",
                "Reactor",
                "ReactorMetrics",
                "ReactorStreams",
                "ReactorTLS",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/HTTP/Server"
        ),
        // The echo server, on the streams or on the sock level (reactor-bench's servers).
        .executableTarget(
            name: "reactor-echo",
            dependencies: [
                "Reactor",
                "ReactorMetrics",
                "ReactorStreams",
                "ReactorTLS",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/Echo"
        ),
        // What the test targets share: servers started as processes, and their memory; the
        // test certificates.
        .target(
            name: "TestSupport",
            dependencies: ["Reactor", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            exclude: ["make-pki.sh"]
        ),
        // What the signal tests ask of the process (a signal's disposition, a thread's mask).
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .testTarget(
            name: "ReactorTests",
            dependencies: ["Reactor", "CReactor", "TestSupport", "CTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        // Streams, servers, clients and subprocesses, the monitor, and the documentation's examples;
        // monitor_client.py is run from the sources.
        .testTarget(
            name: "ReactorStreamsTests",
            dependencies: [
                "Reactor", "ReactorStreams", "ReactorServiceLifecycle", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["monitor_client.py"]
        ),
        // TLS against openssl, Python's ssl and asyncio, and redis-server's TLS; the scripts
        // are run from the sources.
        .testTarget(
            name: "ReactorTLSTests",
            dependencies: ["Reactor", "ReactorStreams", "ReactorTLS", "TestSupport"],
            exclude: ["tls_peers.py"]
        ),
        // reactor-http against real clients, and the library's server and client; http_cases.py is
        // run from the sources.
        .testTarget(
            name: "ReactorHTTPTests",
            dependencies: [
                "ReactorHTTP", "Reactor", "ReactorStreams", "ReactorTLS", "TestSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            exclude: ["http_cases.py", "monitor_under_load.py", "scrape_metrics.py"]
        ),
        // differential.py is run from the sources by RealClientTests.
        .testTarget(name: "RESPTests", dependencies: ["RESP", "Reactor", "ReactorStreams", "TestSupport"], exclude: ["differential.py"]),
    ]
)
