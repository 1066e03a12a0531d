import ArgumentParser
import Foundation

/// reactor-bench group: a group of two reactors against one, at 64 connections. This machine
/// has two cores, so a group cannot show throughput scaling here: the load generator needs a
/// core of its own. What it shows is the cost: with the server pinned to CPU 0, both reactors
/// of the group share that core, and the server CPU time per message says what the group adds
/// (its listeners, a second loop). Then, unpinned, the group may use both cores while the load
/// runs beside it: the rate there is as far as scaling can be shown on two cores.
struct Group: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A reactor group of 2 against a single reactor at 64 connections: cost per message, then unpinned.",
        discussion: "Servers: \(ServerKind.group.map { "\($0.name) (\($0.summary))" }.joined(separator: ", ")).")

    @OptionGroup var timing: Timing

    @Option(help: "Comma-separated servers to run (default: all).")
    var servers: String?

    @Flag(help: "Skip the unpinned run.")
    var pinnedOnly = false

    func run() throws {
        let servers = try selected(self.servers, from: ServerKind.group, \.name) { name in ServerKind.group.first { $0.name == name } }
        let scenarios = [Scenario.named("conns64")!]
        print("Pinned: every server on CPU 0 (a group's two reactors share it), the load on CPU 1.")
        _ = try Echo.matrix(servers, scenarios, timing: timing)
        if !pinnedOnly {
            print("\nUnpinned: servers and load anywhere on the machine's \(ProcessInfo.processInfo.activeProcessorCount) CPUs.")
            _ = try Echo.matrix(servers, scenarios, timing: timing, serverCPU: nil, loadCPU: nil)
        }
    }
}

extension ServerKind {
    /// The echo servers on one reactor and on a group of two (the C floor for scale).
    static let group: [ServerKind] = [
        ServerKind(name: "c-floor", summary: "minimal C epoll echo (the floor)", executable: "bench-c-echo", arguments: []),
        ServerKind(name: "sock-1", summary: "reactor-echo --mode sock --reactors 1", executable: "reactor-echo",
                   arguments: ["--mode", "sock", "--reactors", "1"]),
        ServerKind(name: "sock-2", summary: "reactor-echo --mode sock --reactors 2", executable: "reactor-echo",
                   arguments: ["--mode", "sock", "--reactors", "2"]),
        ServerKind(name: "streams-1", summary: "reactor-echo --mode streams --reactors 1", executable: "reactor-echo",
                   arguments: ["--mode", "streams", "--reactors", "1"]),
        ServerKind(name: "streams-2", summary: "reactor-echo --mode streams --reactors 2", executable: "reactor-echo",
                   arguments: ["--mode", "streams", "--reactors", "2"]),
    ]
}
