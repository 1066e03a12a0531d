/// A load: how many connections, how big a message, how many in flight; or a stream.
struct Scenario: Sendable, Hashable {
    let name: String
    let title: String
    let connections: Int
    let messageSize: Int
    let depth: Int
    /// Streaming: this many bytes through one connection instead of messages.
    let streamBytes: Int?
    /// More of bench-loadgen's flags: `--handshakes`, a new connection per message.
    var loadFlags: [String] = []

    static let all: [Scenario] = [
        Scenario(name: "latency", title: "1 connection, 64 B ping-pong", connections: 1, messageSize: 64, depth: 1, streamBytes: nil),
        Scenario(name: "conns64", title: "64 connections, 64 B", connections: 64, messageSize: 64, depth: 1, streamBytes: nil),
        Scenario(name: "conns64-4k", title: "64 connections, 4 KiB", connections: 64, messageSize: 4096, depth: 1, streamBytes: nil),
        Scenario(name: "pipelined", title: "64 connections, 64 B, 16 in flight each", connections: 64, messageSize: 64, depth: 16, streamBytes: nil),
        // Streams of 256 MiB, one after another for the run's duration (one lasts about 0.15 s,
        // too short for CPU times counted in 10 ms ticks); a "message" is 64 KiB.
        Scenario(name: "stream", title: "1 connection streaming 256 MiB (a message: 64 KiB)", connections: 1, messageSize: 65536, depth: 1, streamBytes: 256 << 20),
    ]

    static func named(_ name: String) -> Scenario? { all.first { $0.name == name } }

    /// reactor-bench tls: the plain matrix's echo and stream, and full handshakes (ECDSA P-256,
    /// no resumption): each of 64 clients connects, handshakes, echoes 64 B and closes, over
    /// and over; a "message" is one such round trip.
    static let tls: [Scenario] = ["conns64", "conns64-4k", "stream"].compactMap(named) + [
        Scenario(name: "handshakes", title: "64 clients, a new connection and full handshake per 64 B round trip", connections: 64,
                 messageSize: 64, depth: 1, streamBytes: nil, loadFlags: ["--handshakes"]),
    ]

    /// The figure servers are compared by: a stream's MB/s, or messages per second.
    var rate: KeyPath<Measurement, Double> { streamBytes != nil ? \.megabytesPerSecond : \.messagesPerSecond }

    /// bench-loadgen's arguments for this scenario.
    func loadArguments(port: Int, duration: Double, warmup: Double) -> [String] {
        var arguments = ["--port", "\(port)", "--connections", "\(connections)", "--size", "\(messageSize)", "--depth", "\(depth)"]
        if let streamBytes {
            arguments += ["--stream-bytes", "\(streamBytes)", "--duration", "\(duration)"]
        } else {
            arguments += ["--duration", "\(duration)", "--warmup", "\(warmup)"]
        }
        return arguments + loadFlags
    }
}
