import ArgumentParser

/// reactor-bench udp: UDP echo servers side by side, as the echo matrix times the TCP ones: a
/// plain C recvfrom / sendto floor, ours one datagram a call, batched (recvmmsg / sendmmsg) and
/// with offload (UDP_GRO / UDP_SEGMENT), and SwiftNIO's DatagramBootstrap handler with its
/// recvmmsg option (and with its receive offload).
struct UDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "UDP echo: the C recvfrom/sendto floor, ours plain, batched and with GSO/GRO, SwiftNIO's DatagramBootstrap.",
        discussion: """
            Servers: \(ServerKind.udp.map { "\($0.name) (\($0.summary))" }.joined(separator: ", ")).
            Scenarios: \(Scenario.udp.map { "\($0.name) (\($0.title))" }.joined(separator: ", ")).
            """)

    @OptionGroup var timing: Timing

    @Option(help: "Comma-separated servers to run (default: all).")
    var servers: String?

    @Option(help: "Comma-separated scenarios to run (default: all).")
    var scenarios: String?

    func run() throws {
        let servers = try selected(self.servers, from: ServerKind.udp, \.name) { name in ServerKind.udp.first { $0.name == name } }
        let scenarios = try selected(self.scenarios, from: Scenario.udp, \.name) { name in Scenario.udp.first { $0.name == name } }
        _ = try Echo.matrix(servers, scenarios, timing: timing)
    }
}

extension ServerKind {
    /// The UDP echo servers. reactor-echo also serves TCP on the port; the load is UDP only.
    static let udp: [ServerKind] = [
        ServerKind(name: "c-floor", summary: "minimal C epoll recvfrom/sendto (the floor)", executable: "bench-c-udp-echo", arguments: []),
        ServerKind(name: "reactor-plain", summary: "swift-reactor sockRecvfrom/sockSendto", executable: "reactor-echo",
                   arguments: ["--mode", "sock", "--udp", "--udp-mode", "plain"]),
        ServerKind(name: "reactor-batched", summary: "swift-reactor DatagramBatch (recvmmsg/sendmmsg)", executable: "reactor-echo",
                   arguments: ["--mode", "sock", "--udp", "--udp-mode", "batched"]),
        ServerKind(name: "reactor-offload", summary: "swift-reactor DatagramBatch with UDP_GRO/UDP_SEGMENT", executable: "reactor-echo",
                   arguments: ["--mode", "sock", "--udp", "--udp-mode", "offload"]),
        ServerKind(name: "nio-handler", summary: "SwiftNIO DatagramBootstrap handler, recvmmsg of 64", executable: "nio-echo",
                   arguments: ["--mode", "udp", "--vector-reads", "64"]),
        ServerKind(name: "nio-offload", summary: "SwiftNIO DatagramBootstrap handler, recvmmsg of 64 with receive offload", executable: "nio-echo",
                   arguments: ["--mode", "udp", "--vector-reads", "64", "--offload"]),
    ]
}

extension Scenario {
    /// 8 clients, each a connected UDP socket with 16 datagrams of 64 B in flight: one datagram
    /// a send (udp), or each client's due datagrams in one UDP_SEGMENT send and its echoes
    /// read with recvmmsg (udp-gso), which lets a server with receive offload take them in one.
    static let udp: [Scenario] = [
        Scenario(name: "udp", title: "8 UDP clients, 64 B datagrams, 16 in flight each", connections: 8, messageSize: 64, depth: 16,
                 streamBytes: nil, loadFlags: ["--udp"]),
        Scenario(name: "udp-gso", title: "8 UDP clients, 64 B datagrams, 16 in flight each, sent with UDP_SEGMENT", connections: 8,
                 messageSize: 64, depth: 16, streamBytes: nil, loadFlags: ["--udp-gso"]),
    ]
}
