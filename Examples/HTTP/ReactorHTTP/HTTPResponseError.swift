/// A misuse of the response writer: a second head, a write after the end, more body than
/// declared.
public struct HTTPResponseError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
