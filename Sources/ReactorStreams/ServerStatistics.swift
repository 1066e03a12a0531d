import Reactor

extension Server {
    /// Why a connection was closed.
    public enum CloseCause: String, CaseIterable, Sendable {
        /// Its handler returned (most often at the peer's EOF).
        case handlerReturned = "returned"
        /// The peer went away: a reset, a broken pipe, a TCP timeout, a TLS alert.
        case peerReset = "reset"
        /// Its handler threw an error of its own.
        case handlerFailed = "error"
        /// The server closed it: `abortClients()`, a shutdown.
        case closedByServer = "aborted"
        /// It was idle for ``ServerOptions/idleTimeout``, or its handler let a read deadline
        /// pass (`StreamReader.withTimeout`).
        case timedOut = "timed_out"
        /// Its transport (a TLS handshake) failed to start.
        case transportFailed = "transport_failed"

        var index: Int {
            switch self {
            case .handlerReturned: 0
            case .peerReset: 1
            case .handlerFailed: 2
            case .closedByServer: 3
            case .timedOut: 4
            case .transportFailed: 5
            }
        }
    }

    /// What a server's connections on one reactor have done.
    public struct Statistics: Sendable {
        /// Connections accepted, and being served now.
        public var accepted: UInt64
        public var open: Int
        /// Connections closed, by cause.
        public var closed: [CloseCause: UInt64]
        /// Bytes received and sent by its connections, closed or open (through a transport:
        /// the plaintext).
        public var bytesReceived: UInt64
        public var bytesSent: UInt64
    }

    /// The statistics of the server's connections on `reactor` (one of ``reactors``). Must be
    /// called on that reactor's loop thread.
    public func statistics(on reactor: Reactor) -> Statistics {
        guard let shard = shards.first(where: { $0.reactor === reactor }) else {
            preconditionFailure("Server.statistics(on:): the server does not run on \(reactor)")
        }
        return shard.statistics()
    }
}
