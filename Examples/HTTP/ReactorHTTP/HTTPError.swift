import HTTPTypes

/// A request the server refuses, with the status it answers: a malformed body (400), a body
/// over the limit (413). Thrown by the request body's reads; a handler that lets it through
/// has it answered, if nothing was answered yet, and the connection closed.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    public var status: HTTPResponse.Status
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "HTTP \(status.code): \(message)" }
}
