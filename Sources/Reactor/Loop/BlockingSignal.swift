import Glibc

/// A one-shot signal a thread blocks on until another thread posts it (a POSIX semaphore): for
/// the calls that block their caller until a loop, or a task, has done its part.
final class BlockingSignal: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(semaphore, 0, 0) }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    func signal() { sem_post(semaphore) }

    /// Blocks the calling thread until `signal()`.
    func wait() { while sem_wait(semaphore) != 0 {} }
}
