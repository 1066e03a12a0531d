/// An error that nobody could catch, with where it happened: what the reactor hands its
/// exception handler (asyncio's exception-handler `context`).
public struct ErrorContext: Sendable, CustomStringConvertible {
    /// What happened, for people: "connection handler for 127.0.0.1:5000 threw".
    public let message: String
    /// The error itself.
    public let error: any Error
    /// The peer of the connection it happened on, if any.
    public let peer: SocketAddress?

    public init(message: String, error: any Error, peer: SocketAddress? = nil) {
        self.message = message
        self.error = error
        self.peer = peer
    }

    public var description: String { "\(message): \(error)" }
}

extension Reactor {
    /// Hands `context` to the configuration's exception handler, or logs it at error level
    /// when there is none (asyncio's `call_exception_handler`). Any thread.
    public func callExceptionHandler(_ context: ErrorContext) {
        if let exceptionHandler {
            exceptionHandler(self, context)
        } else {
            logger.error("\(context)")
        }
    }
}
