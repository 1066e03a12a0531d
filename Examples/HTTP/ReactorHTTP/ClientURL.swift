/// An `http://` or `https://` URL as the client needs it: scheme, host (an IPv6 literal
/// without its brackets), port and request-target.
struct ClientURL: Sendable, Equatable {
    var isSecure: Bool
    var host: String
    var port: Int
    /// The path and query, `/` at least.
    var target: String

    init(_ text: String) throws {
        let rest: Substring
        if text.hasPrefix("http://") {
            isSecure = false
            rest = text.dropFirst(7)
        } else if text.hasPrefix("https://") {
            isSecure = true
            rest = text.dropFirst(8)
        } else {
            throw HTTPClientError("not an http or https URL: \(text)")
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...].prefix { $0 != "#" })
        if target.isEmpty || target.first == "?" { target = "/" + target }
        self.target = target
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var port: Int?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw HTTPClientError("a malformed IPv6 address in \(text)") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.first == ":" { port = Int(after.dropFirst()) ?? -1 }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { throw HTTPClientError("no host in \(text)") }
        // Spaces and control bytes would split the request line or the Host field.
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw HTTPClientError("a space or control character in \(text.debugDescription)")
        }
        self.port = port ?? (isSecure ? 443 : 80)
        guard (1...65535).contains(self.port) else { throw HTTPClientError("a malformed port in \(text)") }
    }

    /// The Host field: the port only when it is not the scheme's.
    var authority: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return port == (isSecure ? 443 : 80) ? host : "\(host):\(port)"
    }

    /// Where a `Location` sends a redirect: an absolute URL, or a path on this origin.
    func resolving(_ location: String) throws -> ClientURL {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return try ClientURL(location) }
        guard !location.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw HTTPClientError("a space or control character in the redirect to \(location.debugDescription)")
        }
        var url = self
        if location.hasPrefix("/") {
            url.target = location
        } else {
            let directory = target.prefix { $0 != "?" }.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            url.target = directory + "/" + location
        }
        return url
    }
}

/// A request the client could not make: a malformed URL, a response it cannot read, a timeout.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
