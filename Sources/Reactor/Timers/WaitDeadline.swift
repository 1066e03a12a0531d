/// A deadline over a run of waits on handles (`StreamReader.withTimeout`): one timer for the
/// whole run, not one per wait, and no task. When it passes, the wait parked under it (if any)
/// is woken, and that wait and every later one under it throw `ReactorError` (`.timedOut`);
/// the bytes a reader already holds stay where they are.
package final class WaitDeadline: @unchecked Sendable {  // touched on the loop thread only
    let timeout: Duration
    package let deadline: Int64
    var timer: TimerHandle?
    /// True once the deadline passed.
    package internal(set) var hasPassed = false
    /// The wait parked under the deadline now, if any, and its waiter's id.
    var parked: (fd: Int32, generation: UInt32, interest: Interest, id: UInt64)?

    init(timeout: Duration, deadline: Int64) {
        self.timeout = timeout
        self.deadline = deadline
    }
}

extension Reactor {
    /// A deadline `timeout` from now, its timer scheduled (loop thread); nil when `outer` ends
    /// first. End it with `endDeadline`.
    package func startDeadline(after timeout: Duration, within outer: WaitDeadline? = nil) -> WaitDeadline? {
        assertOnLoop("startDeadline")
        let due = deadline(after: timeout)
        if let outer, outer.deadline <= due { return nil }
        let waitDeadline = WaitDeadline(timeout: timeout, deadline: due)
        waitDeadline.timer = timers.schedule(at: due, .expire(waitDeadline))
        return waitDeadline
    }

    /// Cancels a deadline's timer, if it has not fired (loop thread).
    package func endDeadline(_ waitDeadline: WaitDeadline) {
        if let timer = waitDeadline.timer { _ = timers.cancel(timer) }
        waitDeadline.timer = nil
    }

    /// The deadline's timer fired: wake the wait parked under it, which looks again and finds
    /// the deadline passed.
    func expire(_ waitDeadline: WaitDeadline) {
        waitDeadline.hasPassed = true
        waitDeadline.timer = nil
        guard let parked = waitDeadline.parked, let source = sources.source(fd: parked.fd, generation: parked.generation),
            let waiter = source.pointee[waiter: parked.interest], waiter.id == parked.id
        else { return }
        source.pointee[waiter: parked.interest] = nil
        wake(waiter, .ready)
    }
}

extension IOHandle {
    /// `waitOnLoop(_:)` under a deadline: throws `ReactorError` (`.timedOut`) once it has
    /// passed, and returns (for the caller to look again) when it passes during the wait.
    package final nonisolated(nonsending) func waitOnLoop(_ interest: Interest, under waitDeadline: WaitDeadline) async throws {
        if waitDeadline.hasPassed { throw ReactorError.timedOut(after: waitDeadline.timeout) }
        // The id the wait takes as it parks: nothing else takes one before it.
        waitDeadline.parked = (fd, generation, interest, reactor.lastWaiterID &+ 1)
        defer { waitDeadline.parked = nil }
        try await waitOnLoop(interest)
    }
}
