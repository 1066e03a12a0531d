import CReactor
import Glibc

extension ReactorGroup {
    /// One listening socket per reactor, all on `address` (element i of `sockets` is
    /// `reactors[i]`'s), for an accept loop on each reactor: the sock-level form of a server on
    /// a group. `address` is where they listen, with the port the kernel picked for port 0 (a
    /// listener's own `localAddress()` may be asked on its reactor only).
    ///
    /// On an IP address each is a listener of its own with SO_REUSEPORT (for a group of more
    /// than one), and the kernel spreads new connections over them (port 0 picks one free port
    /// for all). A Unix-domain
    /// path cannot be shared that way: there one listener is made, and each other reactor
    /// watches a duplicate of its fd, so whichever reactor accepts first takes the connection.
    public func listen(
        on address: SocketAddress, backlog: Int32 = 511, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> (sockets: [Socket], address: SocketAddress) {
        var listeners: [Socket] = []
        var address = address
        do {
            if address.family == .unix {
                let first = try await reactors[0].listen(on: address, backlog: backlog, file: file, line: line)
                listeners.append(first)
                for reactor in reactors.dropFirst() {
                    listeners.append(try await reactor.adoptSocket(check(cr_dup(first.fileDescriptor), "dup"), file: file, line: line))
                }
            } else {
                for reactor in reactors {
                    let (listener, bound) = try await reactor.listenBound(on: address, backlog: backlog, reusePort: reactors.count > 1, file: file, line: line)
                    listeners.append(listener)
                    address = bound
                }
            }
        } catch {
            for listener in listeners { listener.close() }
            throw error
        }
        return (listeners, address)
    }
}
