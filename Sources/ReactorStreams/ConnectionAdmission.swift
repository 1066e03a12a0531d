import Synchronization

/// The connections of a server, counted over all its reactors, and its accept loops that wait
/// for one to close while the server serves ``ServerOptions/maxConnections``.
final class ConnectionAdmission: Sendable {
    let maxConnections: Int
    private let open = Atomic<Int>(0)
    /// Set once, before the shards start accepting: weak, since the shards own this.
    nonisolated(unsafe) private var shards: [Weak] = []

    private struct Weak {
        weak var shard: ServerShard?
    }

    init(maxConnections: Int?) {
        self.maxConnections = maxConnections ?? .max
    }

    func admit(_ shards: [ServerShard]) {
        self.shards = shards.map(Weak.init)
    }

    var count: Int { open.load(ordering: .relaxed) }

    /// Takes a place for a connection; false when the server is full. One step, as the
    /// reactors of a group take places at once.
    func tryOpen() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < maxConnections {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// A connection closed: wakes the paused accept loops if the server was full.
    func closed() {
        if open.subtract(1, ordering: .relaxed).oldValue >= maxConnections {
            for case let shard? in shards.lazy.map(\.shard) { shard.connectionClosedWhileFull() }
        }
    }
}
