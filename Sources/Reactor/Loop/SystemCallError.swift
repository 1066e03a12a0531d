import CReactor
import Glibc

/// A failed system call: which call, the errno it failed with, and the system's text. Not every
/// failing call is a socket's: pthread_create, eventfd, sigaction, posix_spawn and kill fail
/// this way too.
///
/// Every syscall failure in the reactor becomes one of these. EOF is not an error (a receive
/// returns 0 bytes), EINTR is retried and EAGAIN means "wait", so none of those surface here.
/// The reactor's own conditions are ``ReactorError``; the two are the whole error model, with
/// asyncio's `IncompleteReadError` and `LimitOverrunError` beside them in the streams.
public struct SystemCallError: Error, Equatable, CustomStringConvertible {
    /// The call that failed, such as `"recv"`, `"connect"` or `"posix_spawn"`.
    public let operation: String
    /// The errno value.
    public let errno: Int32
    /// What the operation was applied to (a socket, an address), when that helps the reader.
    public let detail: String?

    public init(operation: String, errno: Int32, detail: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    /// `strerror(errno)`.
    public var message: String { String(cString: cr_strerror(errno)) }

    public var description: String {
        let subject = detail.map { " (\($0))" } ?? ""
        return "\(operation) failed: \(message) [errno \(errno)]\(subject)"
    }

    /// The error an operation gets when its socket was closed, before or while it waited.
    static func closed(_ operation: String, fd: Int32) -> SystemCallError {
        SystemCallError(operation: operation, errno: EBADF, detail: "fd \(fd) is closed")
    }
}

/// Turns a CReactor result (-errno on failure) into a value or a `SystemCallError`.
@inline(__always)
func check<T: BinaryInteger>(_ result: T, _ operation: @autoclosure () -> String) throws -> T {
    if result < 0 {
        throw SystemCallError(operation: operation(), errno: -Int32(truncatingIfNeeded: result))
    }
    return result
}
