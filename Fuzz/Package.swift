// swift-tools-version:6.1
// The libFuzzer target of the RESP example's parser and commands. Build and run (README):
//   swift build --package-path Fuzz --sanitize=fuzzer --sanitize=address
//   Fuzz/.build/debug/resp-fuzz Fuzz/Corpus -max_total_time=600
import Foundation
import PackageDescription

// The library is the package one folder up, named by its folder (as in Benchmarks/).
let library = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let package = Package(
    name: "swift-reactor-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "resp-fuzz", dependencies: [.product(name: "RESP", package: library)]),
    ]
)
