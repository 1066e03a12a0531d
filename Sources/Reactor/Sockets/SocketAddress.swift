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

    /// A sockaddr_storage's 128 bytes, held as words: Swift copies the C struct's byte tuple a
    /// byte at a time, and a datagram's sender is copied on every receive.
    typealias Words = (
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
    )

    private var words: Words = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var length: socklen_t = 0

    /// An IPv4 or IPv6 address from its numeric form, such as `"127.0.0.1"` or `"::1"`.
    /// Throws `ReactorError` (`.invalidArgument`) for anything else, or a port out of range.
    public init(ipAddress: String, port: Int) throws {
        guard (0...Int(UInt16.max)).contains(port) else {
            throw ReactorError(.invalidArgument, "port \(port) is not in 0...65535")
        }
        guard withUnsafeMutableStorage({ cr_make_inet_address(ipAddress, UInt16(port), $0, $1) }) >= 0 else {
            throw ReactorError(.invalidArgument, "'\(ipAddress)' is not a numeric IPv4 or IPv6 address")
        }
    }

    /// A Unix-domain socket address. Throws `ENAMETOOLONG` for a path the kernel cannot hold.
    public init(unixPath: String) throws {
        _ = try check(withUnsafeMutableStorage { cr_make_unix_address(unixPath, $0, $1) }, "make address")
    }

    /// An address the kernel wrote: `length` bytes at `storage`.
    init(storage: UnsafePointer<sockaddr_storage>, length: socklen_t) {
        self.length = length
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: UnsafeRawBufferPointer(start: storage, count: MemoryLayout<sockaddr_storage>.size)) }
    }

    /// An empty address, for a call to fill in with `withUnsafeMutableStorage`.
    init() {}

    /// Runs `body` with the address's sockaddr_storage and length, for a call that writes them
    /// (recvfrom, getsockname).
    mutating func withUnsafeMutableStorage<R>(_ body: (UnsafeMutablePointer<sockaddr_storage>, UnsafeMutablePointer<socklen_t>) throws -> R) rethrows -> R {
        try withUnsafeMutablePointer(to: &words) { words in
            try words.withMemoryRebound(to: sockaddr_storage.self, capacity: 1) { try body($0, &length) }
        }
    }

    /// Runs `body` with the address's sockaddr_storage, for a call that reads it.
    func withUnsafeStorage<R>(_ body: (UnsafePointer<sockaddr_storage>) throws -> R) rethrows -> R {
        try withUnsafePointer(to: words) { words in
            try words.withMemoryRebound(to: sockaddr_storage.self, capacity: 1) { try body($0) }
        }
    }

    public var family: Family {
        switch Int32(withUnsafeStorage { $0.pointee.ss_family }) {
        case AF_INET: .ipv4
        case AF_INET6: .ipv6
        default: .unix
        }
    }

    /// The numeric host of an IP address; nil for a Unix-domain address.
    public var host: String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard withUnsafeStorage({ cr_address_host($0, &buffer, buffer.count) }) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The port of an IP address; nil for a Unix-domain address.
    public var port: Int? {
        let port = withUnsafeStorage { cr_address_port($0) }
        return port < 0 ? nil : Int(port)
    }

    /// The path of a Unix-domain address; nil for an IP address.
    public var path: String? {
        guard family == .unix else { return nil }
        return withUnsafeBytes(of: words) { raw in
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

    var domain: Int32 { Int32(withUnsafeStorage { $0.pointee.ss_family }) }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafePointer(to: words) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        guard lhs.length == rhs.length else { return false }
        return withUnsafeBytes(of: lhs.words) { left in
            withUnsafeBytes(of: rhs.words) { right in memcmp(left.baseAddress!, right.baseAddress!, lhs.significantCount) == 0 }
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(length)
        withUnsafeBytes(of: words) { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.prefix(significantCount))) }
    }

    /// The bytes the address is made of: its length, within the storage.
    private var significantCount: Int { min(Int(length), MemoryLayout<Words>.size) }
}
