import Foundation

/// A server started with the allocation counter preloaded (libMallocCounter.so, built beside
/// reactor-bench): sent SIGUSR2, it writes its heap allocations so far to a file of its own.
/// It counts the system malloc only: a server that links its own allocator (redis-server's
/// jemalloc) or keeps SIGUSR2 for itself (nginx) cannot be counted this way.
struct AllocationCounter {
    let server: ServerProcess
    private let file: String

    /// The counter library, or an error saying it was not built.
    static func library(_ toolbox: Toolbox) throws -> String {
        let library = toolbox.directory.appendingPathComponent("libMallocCounter.so").path
        guard FileManager.default.fileExists(atPath: library) else { throw BenchError("libMallocCounter.so was not built beside reactor-bench") }
        return library
    }

    /// Starts `kind` pinned to `cpu` with the counter preloaded.
    init(_ kind: ServerKind, toolbox: Toolbox, cpu: Int?) throws {
        let library = try Self.library(toolbox)
        file = FileManager.default.temporaryDirectory.appendingPathComponent("malloc-count-\(getpid())-\(kind.name)").path
        // The server inherits them; reactor-bench's own later children must not.
        setenv("LD_PRELOAD", library, 1)
        setenv("MALLOC_COUNTER_FILE", file, 1)
        defer {
            unsetenv("LD_PRELOAD")
            unsetenv("MALLOC_COUNTER_FILE")
        }
        server = try ServerProcess(kind, toolbox: toolbox, cpu: cpu)
    }

    /// The server's count now.
    func count() throws -> Int {
        unlink(file)
        kill(server.pid, SIGUSR2)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), text.hasSuffix("\n"), let count = Int(text.dropLast()) {
                return count
            }
            usleep(2_000)
        }
        throw BenchError("the allocation counter of \(server.kind.name) did not answer")
    }
}
