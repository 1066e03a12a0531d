import BenchTiming
import Foundation
import Reactor
import ReactorStreams
import Subprocess

/// One subprocess workload for a while, and its rate on stdout as `<operations> <seconds>`:
/// reactor-bench `subprocesses` runs each pinned to one CPU, in turns, beside CPython's
/// asyncio (`Scripts/asyncio_subprocess.py`).
///
/// `subprocess-bench WORKLOAD SECONDS`. One child at a time: start `/bin/true` and wait for
/// it, or start `/bin/cat`, feed it 1 MiB and read the 1 MiB back.
@main
struct SubprocessBench {
    static func main() throws {
        try workloadMain(Workload.self, firstRounds: 10, maxRounds: 1_000) { workload, rounds, _ in
            for _ in 0..<rounds { try await workload.runOnce() }
            return rounds
        }
    }
}

enum Workload: String, CaseIterable {
    case reactorTrue = "reactor-true"
    case reactorCat = "reactor-cat-1MiB"
    case subprocessTrue = "swift-subprocess-true"
    case subprocessCat = "swift-subprocess-cat-1MiB"

    static let input = [UInt8](repeating: 42, count: 1 << 20)

    func runOnce() async throws {
        switch self {
        case .reactorTrue:
            let status = try await createSubprocessExec("/bin/true").wait()
            guard status == 0 else { throw BenchmarkFailure("/bin/true exited with \(status)") }
        case .reactorCat:
            let child = try await createSubprocessExec("/bin/cat", stdin: .pipe, stdout: .pipe)
            let (output, _) = try await child.communicate(input: Self.input)
            guard output.count == Self.input.count else { throw BenchmarkFailure("cat gave back \(output.count) bytes") }
        case .subprocessTrue:
            let result = try await run(.path("/bin/true"), output: .discarded)
            guard result.terminationStatus.isSuccess else { throw BenchmarkFailure("/bin/true: \(result.terminationStatus)") }
        case .subprocessCat:
            let result = try await run(.path("/bin/cat"), input: .array(Self.input), output: .bytes(limit: 2 << 20))
            guard result.standardOutput.count == Self.input.count else {
                throw BenchmarkFailure("cat gave back \(result.standardOutput.count) bytes")
            }
        }
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
