import Foundation
import Reactor

/// The `main` of a workload executable: `TOOL WORKLOAD SECONDS`. Runs `batch(workload, rounds,
/// reactor)` on a reactor through `measure` and prints `<operations> <seconds>`.
public func workloadMain<Workload: CaseIterable & RawRepresentable<String> & Sendable>(
    _: Workload.Type, firstRounds: Int = 1_000, maxRounds: Int = 100_000,
    _ batch: @escaping @Sendable (Workload, Int, Reactor) async throws -> Int
) throws {
    let arguments = CommandLine.arguments
    guard arguments.count == 3, let workload = Workload(rawValue: arguments[1]), let seconds = Double(arguments[2]) else {
        let tool = URL(fileURLWithPath: arguments[0]).lastPathComponent
        let names = Workload.allCases.map(\.rawValue).joined(separator: "|")
        FileHandle.standardError.write(Data("usage: \(tool) \(names) SECONDS\n".utf8))
        exit(2)
    }
    let (operations, elapsed) = try Reactor.run { reactor in
        try await measure(for: seconds, firstRounds: firstRounds, maxRounds: maxRounds) { rounds in
            try await batch(workload, rounds, reactor)
        }
    }
    print(operations, elapsed)
}
