import HTTPTypes

/// Header fields rendered once into their wire form, for responses that send the same fields
/// every time (a content type, a cache policy): writing them is a copy, where `HTTPFields`
/// are rendered for each response (swift-http-types makes a string of each value as it is read).
public struct RenderedFields: Sendable {
    let bytes: [UInt8]
    /// Whether the fields say `Connection: close`.
    let closesConnection: Bool

    /// Renders `fields`; Content-Length, Transfer-Encoding and Connection are the server's to
    /// write (a `Connection: close` among them is honoured).
    public init(_ fields: HTTPFields) {
        var bytes: [UInt8] = []
        var closes = false
        for field in fields {
            if field.name == .connection {
                closes = closes || field.value.lowercased().contains("close")
                continue
            }
            if field.name == .contentLength || field.name == .transferEncoding { continue }
            bytes += Array("\(field.name.rawName): \(field.value)\r\n".utf8)
        }
        self.bytes = bytes
        closesConnection = closes
    }
}

/// A response's fields, as given or rendered ahead.
enum ResponseFields {
    case fields(HTTPFields)
    case rendered(RenderedFields)
}
