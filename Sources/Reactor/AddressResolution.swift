import CReactor
import Glibc

/// getaddrinfo failed (EAI_NONAME for an unknown host, and so on).
public struct AddressResolutionError: Error, Equatable, CustomStringConvertible {
    public let host: String
    /// The getaddrinfo error code (`EAI_*`).
    public let code: Int32
    public let message: String

    public var description: String { "cannot resolve \(host): \(message) [EAI \(code)]" }
}

extension SocketAddress {
    /// The TCP addresses of `host` (a name or a numeric address), in getaddrinfo's order.
    ///
    /// getaddrinfo blocks, so a name is resolved on a thread of its own and the caller is
    /// resumed when it is done: the reactor's loop never waits on DNS. Numeric hosts are
    /// parsed at once.
    public static func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        if let numeric = try? SocketAddress(ipAddress: host, port: port) { return [numeric] }
        guard (0...Int(UInt16.max)).contains(port) else {
            throw SocketError(operation: "resolve", errno: EINVAL, detail: "port \(port)")
        }
        return try await withUnsafeThrowingContinuation { continuation in
            let lookup = Lookup(host: host, port: UInt16(port), continuation: continuation)
            let started = cr_thread_start({ context in
                Unmanaged<Lookup>.fromOpaque(context!).takeRetainedValue().run()
            }, Unmanaged.passRetained(lookup).toOpaque())
            if started < 0 {
                Unmanaged.passUnretained(lookup).release()
                continuation.resume(throwing: SocketError(operation: "pthread_create", errno: -started))
            }
        }
    }
}

/// One getaddrinfo call, run on its own thread.
private final class Lookup: @unchecked Sendable {
    static let maxAddresses = 16

    let host: String
    let port: UInt16
    let continuation: UnsafeContinuation<[SocketAddress], any Error>

    init(host: String, port: UInt16, continuation: UnsafeContinuation<[SocketAddress], any Error>) {
        self.host = host
        self.port = port
        self.continuation = continuation
    }

    func run() {
        var storages = [sockaddr_storage](repeating: sockaddr_storage(), count: Self.maxAddresses)
        var lengths = [socklen_t](repeating: 0, count: Self.maxAddresses)
        var gaiError: Int32 = 0
        let count = cr_resolve(host, port, &storages, &lengths, Int32(Self.maxAddresses), &gaiError)
        if count < 0 {
            let message = String(cString: cr_gai_strerror(gaiError))
            continuation.resume(throwing: AddressResolutionError(host: host, code: gaiError, message: message))
        } else {
            continuation.resume(returning: (0..<Int(count)).map { SocketAddress(storage: storages[$0], length: lengths[$0]) })
        }
    }
}
