/// Tasks parked on a reactor's loop thread until something happens, such as "the queue is
/// drained" or "the stream is closed": the public face of the waiter primitive (`WaiterList`),
/// on which the streams, the server and the coordination primitives (``Lock``, ``Event``,
/// ``Queue`` and the rest) build.
///
/// `wait()` parks; `wakeOne()` and `wakeAll()` wake in FIFO order. A waiter does not carry
/// what happened: once woken, it looks at the state it waited on, as asyncio's waiters do.
///
/// A task cancelled while it waits leaves at once with `CancellationError`. One that was woken
/// by `wakeOne()` and cancelled before it could run passes the wake-up on to the next waiter,
/// so a wake-up is never lost (asyncio's `_wake_up_first`). When the reactor shuts down, the
/// tasks still parked resume with ``ReactorError`` (`.shutDown`).
///
/// Used on the loop thread only (hence unchecked Sendable); `wait()` hops there if needed.
public final class WaitQueue: @unchecked Sendable {
    public let reactor: Reactor
    @exclusivity(unchecked) private var waiters = WaiterList()
    // Links in the reactor's list of queues that have waiters, which its shutdown wakes. Not
    // retained: a queue with waiters is kept alive by the frames of the tasks parked in it.
    @exclusivity(unchecked) private unowned(unsafe) var previousWaiting: WaitQueue?
    @exclusivity(unchecked) private unowned(unsafe) var nextWaiting: WaitQueue?

    /// What the queue belongs to (a `Lock`, a `Queue`, a `StreamWriter`), as a snapshot of the
    /// parked tasks names it. Not retained: a queue with waiters is its owner's, kept alive by
    /// the frames of the tasks parked in the owner's methods.
    @exclusivity(unchecked) package unowned(unsafe) var owner: AnyObject?

    public init(on reactor: Reactor) {
        self.reactor = reactor
    }

    /// How many tasks are parked.
    public var count: Int { waiters.count }

    /// Parks the calling task until it is woken. Throws `CancellationError` if its task is
    /// cancelled first, and ``ReactorError`` (`.shutDown`) when the reactor shuts down, or has.
    public nonisolated(nonsending) func wait(file: StaticString = #fileID, line: UInt = #line) async throws {
        try await reactor.runOnLoop(self, file: file, line: line) { queue in try await queue.waitOnLoop() }
    }

    private nonisolated(nonsending) func waitOnLoop() async throws {
        try await waitInTurn("wait") { self.wakeOne() }
    }

    /// Parks the calling task (loop thread) until it is woken, whether or not its task is
    /// cancelled: for a wait that must outlast a cancellation (a connection's task, cancelled,
    /// still waits for its socket to close). Throws ``ReactorError`` (`.shutDown`) when the
    /// reactor shuts down.
    package nonisolated(nonsending) func waitIgnoringCancellation() async throws {
        try await waitInTurn("wait", cancellable: false)
    }

    /// Parks the calling task (loop thread) until it is woken, and turns how it was woken into
    /// a return or an error: every wait of the coordination primitives ends here. Throws
    /// `CancellationError` when its task is cancelled while it waits, or was woken but
    /// cancelled before it ran, in which case `wokenButCancelled` first passes on what the
    /// wake-up gave it (the wake-up itself, a lock, a permit); and ``ReactorError``
    /// (`.shutDown`, naming `operation`) when the reactor shuts down. A wait that is not
    /// `cancellable` ignores cancellation (see `park`).
    @inlinable
    nonisolated(nonsending) func waitInTurn(
        _ operation: StaticString, cancellable: Bool = true, wokenButCancelled: () -> Void = {}
    ) async throws {
        switch await park(cancellable: cancellable) {
        case .ready:
            if cancellable && Task.isCancelled {
                wokenButCancelled()
                throw CancellationError()
            }
        case .cancelled: throw CancellationError()
        case .closed: throw ReactorError.shutDown("\(operation)")
        case .offLoop: throw ReactorError.offLoop(operation)
        }
    }

    /// Parks the calling task, on the loop thread, at the end of the queue and returns how it
    /// was woken; the caller decides what a wake-up that met a cancellation means. A
    /// `cancellable` wait resumes with `.cancelled` when its task is cancelled, or at once if
    /// it already is; any other ignores cancellation (to take a lock back, as a `Condition`
    /// must before it returns).
    @usableFromInline
    nonisolated(nonsending) func park(cancellable: Bool = true) async -> WaitOutcome {
        let ticket = waiters.nextTicket(id: reactor.nextWaiterID())
        return await Reactor.park {
            guard cancellable else { return }
            self.reactor.runOnLoopNowOrNextTurn(self) { queue in
                if let waiter = queue.remove(ticket) {
                    waiter.continuation.resume(returning: .cancelled)
                }
            }
        } park: { continuation in
            if cancellable && Task.isCancelled {
                continuation.resume(returning: .cancelled)
            } else {
                if waiters.isEmpty { linkWaiting() }
                let appended = waiters.append(Waiter(continuation: continuation, id: ticket.id))
                assert(appended == ticket, "a waiter was added between nextTicket and append")
            }
        }
    }

    /// Wakes the longest-waiting task; false when none waits.
    @discardableResult
    public func wakeOne() -> Bool {
        reactor.assertOnLoop("WaitQueue.wakeOne")
        guard let waiter = waiters.popFirst() else { return false }
        if waiters.isEmpty { unlinkWaiting() }
        waiter.continuation.resume(returning: .ready)
        return true
    }

    /// Wakes every parked task.
    public func wakeAll() {
        reactor.assertOnLoop("WaitQueue.wakeAll")
        wakeAll(.ready)
    }

    /// Wakes every parked task with `outcome`, in order.
    func wakeAll(_ outcome: WaitOutcome) {
        guard !waiters.isEmpty else { return }
        unlinkWaiting()
        waiters.wakeAll(outcome)
    }

    private func remove(_ ticket: WaiterList.Ticket) -> Waiter? {
        let waiter = waiters.remove(ticket)
        if waiter != nil && waiters.isEmpty { unlinkWaiting() }
        return waiter
    }

    private func linkWaiting() {
        nextWaiting = reactor.firstWaitingQueue
        nextWaiting?.previousWaiting = self
        reactor.firstWaitingQueue = self
    }

    private func unlinkWaiting() {
        if let previousWaiting { previousWaiting.nextWaiting = nextWaiting } else { reactor.firstWaitingQueue = nextWaiting }
        nextWaiting?.previousWaiting = previousWaiting
        previousWaiting = nil
        nextWaiting = nil
    }
}

extension WaitQueue {
    /// The waiters parked here, and what the queue belongs to.
    var parked: (waiters: [Waiter], owner: String) {
        (waiters.all, owner.map { "\(type(of: $0)) \(ObjectIdentifier($0).hexAddress)" } ?? "WaitQueue \(ObjectIdentifier(self).hexAddress)")
    }

    /// The next queue with waiters after this one.
    var nextQueueWithWaiters: WaitQueue? { nextWaiting }
}

extension Reactor {
    /// Wakes, with `.closed`, every task parked in a `WaitQueue` of this reactor: at shutdown.
    func wakeWaitQueues() {
        while let queue = firstWaitingQueue { queue.wakeAll(.closed) }
    }
}
