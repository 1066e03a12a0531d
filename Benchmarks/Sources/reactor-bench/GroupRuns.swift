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
        compare(try Echo.matrix(servers, scenarios, timing: timing)[scenarios[0]] ?? [:])
        if !pinnedOnly {
            print("\nUnpinned: servers and load anywhere on the machine's \(ProcessInfo.processInfo.activeProcessorCount) CPUs.")
            compare(try Echo.matrix(servers, scenarios, timing: timing, serverCPU: nil, loadCPU: nil)[scenarios[0]] ?? [:])
        }
    }

    /// The group against one reactor, within each repetition: CPU per message and rate.
    private func compare(_ results: [ServerKind: [Measurement]]) {
        for mode in ["sock", "streams"] {
            guard let one = results.first(where: { $0.key.name == "\(mode)-1" })?.value,
                let two = results.first(where: { $0.key.name == "\(mode)-2" })?.value
            else { continue }
            let cost = Spread.ratios(two, to: one, \.serverMicrosecondsPerMessage).map { Report.ratios($0, of: two.count) } ?? "-"
            let rate = Spread.ratios(two, to: one, \.messagesPerSecond).map { Report.ratios($0, of: two.count) } ?? "-"
            print("  \(mode): 2 reactors against 1: server µs/msg \(cost), msgs/s \(rate)")
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
