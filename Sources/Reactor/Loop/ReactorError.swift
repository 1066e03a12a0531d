/// A condition of the reactor's own, and of the layers on it (the streams): not a failed
/// syscall (those are ``SystemCallError``, with their errno), but a call the reactor refused
/// or could not finish.
///
/// Compare by `code`: `catch let error as ReactorError where error.code == .timedOut`.
public struct ReactorError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The reactor shut down before the operation could run on it, or while it waited.
        case shutDown
        /// The call needs a reactor and none was given, nor is one running on this thread; or
        /// its task could not wait on the loop: one started on the loop thread with
        /// `Task.immediate` and without the reactor as its executor preference, which the
        /// runtime would resume elsewhere.
        case notOnReactor
        /// The handle belongs to another reactor than the one the operation was called on.
        case wrongReactor
        /// `withTimeout`'s deadline passed before the operation finished.
        case timedOut
        /// Another task already waits in this direction on this handle, or on this stream
        /// reader: at most one reader and one writer may wait.
        case busy
        /// An argument out of range, such as a port above 65535, a negative semaphore value or
        /// read size, an empty separator.
        case invalidArgument
        /// A call that the state of what it was made on does not allow, as asyncio's
        /// `RuntimeError` and `InvalidStateError`: releasing a lock nobody holds, setting a
        /// future's result twice, writing to a stream after `close()` or `writeEOF()`.
        case invalidState
        /// A stream's connection failed or was closed while data was still to be sent: `cause`
        /// is the failed call, when there was one (the peer's reset, a pipe whose reader is
        /// gone).
        case connectionLost
        /// The blocking pool's queue is full.
        case poolFull
    }

    public let code: Code
    /// What happened, for people: the operation and what it was applied to.
    public let message: String
    /// The failed system call behind it, if any (a lost connection's reset or broken pipe).
    public let cause: SystemCallError?

    public init(_ code: Code, _ message: String, cause: SystemCallError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    @usableFromInline
    static func shutDown(_ operation: String) -> ReactorError {
        ReactorError(.shutDown, "\(operation): the reactor has shut down")
    }

    /// A wait refused to a task that would not come back to the loop after it.
    @usableFromInline
    static func offLoop(_ operation: StaticString) -> ReactorError {
        ReactorError(
            .notOnReactor,
            "\(operation): a task started on the loop thread (Task.immediate) without the reactor as its executor preference cannot wait there, the runtime would resume it elsewhere: start it with Task.immediate(executorPreference: reactor)")
    }

    @usableFromInline
    static func invalidState(_ message: String) -> ReactorError {
        ReactorError(.invalidState, message)
    }

    static func invalidArgument(_ message: String) -> ReactorError {
        ReactorError(.invalidArgument, message)
    }

    static func timedOut(after timeout: Duration) -> ReactorError {
        ReactorError(.timedOut, "operation timed out after \(timeout)")
    }
}
