/// Tasks parked on a reactor's loop thread until something happens, such as "the queue is
/// drained" or "the stream is closed": the public face of the waiter primitive (`WaiterList`),
/// on which the streams, the server and the coordination primitives build.
///
/// `wait()` parks; `wakeOne()` and `wakeAll()` wake in FIFO order. A waiter does not carry
/// what happened: once woken, it looks at the state it waited on, as asyncio's waiters do.
///
/// A task cancelled while it waits leaves at once with `CancellationError`. One that was woken
/// by `wakeOne()` and cancelled before it could run passes the wake-up on to the next waiter,
/// so a wake-up is never lost (asyncio's `_wake_up_first`).
///
/// Used on the loop thread only (hence unchecked Sendable); `wait()` hops there if needed.
public final class WaitQueue: @unchecked Sendable {
    public let reactor: Reactor
    @exclusivity(unchecked) private var waiters = WaiterList()

    public init(reactor: Reactor) {
        self.reactor = reactor
    }

    /// How many tasks are parked.
    public var count: Int { waiters.count }

    /// Parks the calling task until it is woken. Throws `CancellationError` if its task is
    /// cancelled first, and `ReactorError` (`.shutDown`) when called after the reactor shut down
    /// (a task still parked when the loop stops is not resumed: wake it before shutting down).
    public nonisolated(nonsending) func wait(file: StaticString = #fileID, line: UInt = #line) async throws {
        try await reactor.onLoop(self, file: file, line: line) { queue in try await queue.waitOnLoop() }
    }

    private nonisolated(nonsending) func waitOnLoop() async throws {
        let ticket = waiters.nextTicket(id: reactor.nextWaiterID())
        let outcome = await Reactor.park {
            self.reactor.onLoopThread(self) { queue in
                if let waiter = queue.waiters.remove(ticket) {
                    waiter.continuation.resume(returning: .cancelled)
                }
            }
        } park: { continuation in
            if Task.isCancelled {
                continuation.resume(returning: .cancelled)
            } else {
                let appended = waiters.append(Waiter(continuation: continuation, id: ticket.id))
                assert(appended == ticket, "a waiter was added between nextTicket and append")
            }
        }
        switch outcome {
        case .ready:
            if Task.isCancelled {
                waiters.wakeFirst()
                throw CancellationError()
            }
        case .cancelled: throw CancellationError()
        case .closed: throw ReactorError.shutDown("wait")
        }
    }

    /// Wakes the longest-waiting task; false when none waits.
    @discardableResult
    public func wakeOne() -> Bool {
        reactor.assertOnLoop("WaitQueue.wakeOne")
        return waiters.wakeFirst()
    }

    /// Wakes every parked task.
    public func wakeAll() {
        reactor.assertOnLoop("WaitQueue.wakeAll")
        waiters.wakeAll()
    }
}
