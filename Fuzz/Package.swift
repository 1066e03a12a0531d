// swift-tools-version:6.1
// The libFuzzer targets of the RESP example's parser and commands, and of the HTTP example's
// head parser and chunked decoder. SwiftPM's --sanitize=fuzzer
// instruments this package's own target only: -sanitize-coverage brings the RESP library's
// code (and its dependencies') into the coverage the fuzzer follows. Build and run (README):
//   swift build --package-path Fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table
//   Fuzz/.build/debug/resp-fuzz Fuzz/Corpus -max_total_time=600
//   Fuzz/.build/debug/http-fuzz Fuzz/HTTPCorpus -max_total_time=600
import Foundation
import PackageDescription

// The library is the package one folder up, named by its folder (as in Benchmarks/).
let library = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let package = Package(
    name: "swift-reactor-fuzz",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .executableTarget(name: "resp-fuzz", dependencies: [.product(name: "RESP", package: library)]),
        .executableTarget(
            name: "http-fuzz",
            dependencies: [
                .product(name: "ReactorHTTP", package: library),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ]
)
