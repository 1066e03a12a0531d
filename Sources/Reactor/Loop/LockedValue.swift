import Glibc

/// State shared between threads, guarded by a pthread mutex (not asyncio's ``Lock``, which
/// tasks on one reactor wait for).
///
/// Not the standard library's `Mutex`: on Linux that one is built on futexes in code that
/// ThreadSanitizer does not see, so every access it guards is reported as a race; TSan
/// understands pthread mutexes (SwiftNIO's NIOLock wraps one for the same reason).
public final class LockedValue<State>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var state: State

    public init(_ state: State) {
        self.state = state
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
