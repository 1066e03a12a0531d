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
    /// getaddrinfo blocks, so a name is resolved on `pool` (by default the process's blocking
    /// pool) and the caller is resumed when it is done: the reactor's loop never waits on DNS.
    /// Numeric hosts are parsed at once.
    public static func resolve(host: String, port: Int, on pool: BlockingPool = .shared) async throws -> [SocketAddress] {
        if let numeric = try? SocketAddress(ipAddress: host, port: port) { return [numeric] }
        guard (0...Int(UInt16.max)).contains(port) else {
            throw ReactorError(.invalidArgument, "port \(port) is not in 0...65535")
        }
        return try await pool.run { try lookUp(host: host, port: UInt16(port)) }
    }

    private static let maxAddresses = 16

    /// One getaddrinfo call (blocking).
    private static func lookUp(host: String, port: UInt16) throws -> [SocketAddress] {
        var storages = [sockaddr_storage](repeating: sockaddr_storage(), count: maxAddresses)
        var lengths = [socklen_t](repeating: 0, count: maxAddresses)
        var gaiError: Int32 = 0
        let count = cr_resolve(host, port, &storages, &lengths, Int32(maxAddresses), &gaiError)
        if count < 0 {
            let message = String(cString: cr_gai_strerror(gaiError))
            throw AddressResolutionError(host: host, code: gaiError, message: message)
        }
        return (0..<Int(count)).map { index in storages.withUnsafeBufferPointer { SocketAddress(storage: $0.baseAddress! + index, length: lengths[index]) } }
    }
}
