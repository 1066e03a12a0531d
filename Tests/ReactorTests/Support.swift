@testable import Reactor

extension Reactor {
    /// True while a task is parked on `socket` in direction `interest` (test hook).
    func isWaiting(_ handle: IOHandle, _ interest: Interest) -> Bool {
        sources.source(fd: handle.fd, generation: handle.generation)?.pointee[waiter: interest] != nil
    }
}
