import CReactor
import Glibc

/// An IPv4, IPv6 or Unix-domain socket address.
///
/// Numeric hosts only: name resolution blocks, so it is not done here (see the streams layer's
/// `openConnection`, which resolves off the loop thread).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable {
        case ipv4, ipv6, unix
    }

    var storage: sockaddr_storage
    var length: socklen_t

    /// An IPv4 or IPv6 address from its numeric form, such as `"127.0.0.1"` or `"::1"`.
    /// Throws `ReactorError` (`.invalidArgument`) for anything else, or a port out of range.
    public init(ipAddress: String, port: Int) throws {
        guard (0...Int(UInt16.max)).contains(port) else {
            throw ReactorError(.invalidArgument, "port \(port) is not in 0...65535")
        }
        storage = sockaddr_storage()
        length = 0
        guard cr_make_inet_address(ipAddress, UInt16(port), &storage, &length) >= 0 else {
            throw ReactorError(.invalidArgument, "'\(ipAddress)' is not a numeric IPv4 or IPv6 address")
        }
    }

    /// A Unix-domain socket address. Throws `ENAMETOOLONG` for a path the kernel cannot hold.
    public init(unixPath: String) throws {
        storage = sockaddr_storage()
        length = 0
        _ = try check(cr_make_unix_address(unixPath, &storage, &length), "make address")
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    public var family: Family {
        switch Int32(storage.ss_family) {
        case AF_INET: .ipv4
        case AF_INET6: .ipv6
        default: .unix
        }
    }

    /// The numeric host of an IP address; nil for a Unix-domain address.
    public var host: String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var copy = storage
        guard cr_address_host(&copy, &buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The port of an IP address; nil for a Unix-domain address.
    public var port: Int? {
        var copy = storage
        let port = cr_address_port(&copy)
        return port < 0 ? nil : Int(port)
    }

    /// The path of a Unix-domain address; nil for an IP address.
    public var path: String? {
        guard family == .unix else { return nil }
        return withUnsafeBytes(of: storage) { raw in
            let pathBytes = raw.dropFirst(MemoryLayout<sa_family_t>.size)
                .prefix(Int(length) - MemoryLayout<sa_family_t>.size)
            return String(decoding: pathBytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    public var description: String {
        switch family {
        case .ipv4: "\(host ?? "?"):\(port ?? 0)"
        case .ipv6: "[\(host ?? "?")]:\(port ?? 0)"
        case .unix: "unix:\(path ?? "")"
        }
    }

    var domain: Int32 { Int32(storage.ss_family) }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafePointer(to: storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.length == rhs.length && lhs.significantBytes.elementsEqual(rhs.significantBytes)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(length)
        for byte in significantBytes { hasher.combine(byte) }
    }

    private var significantBytes: [UInt8] {
        withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) }
    }
}
