extension Reactor {
    /// Parks the calling task (on the loop thread) until `handle` becomes ready for
    /// `interest`; returns at once when that readiness is remembered.
    ///
    /// Throws `SystemCallError` (EBADF) when the handle is or gets closed, `ReactorError`
    /// (`.busy`) when another task already waits in that direction, and `CancellationError`
    /// when the task is cancelled; in that case the waiter is removed and the handle stays
    /// usable. `operation` names the call in those errors; nil names the handle's transfer in
    /// `interest` (recv, send, read, write).
    ///
    /// Inlined into every caller, in other modules too: its synchronous parts are calls, and a
    /// park through the parking lot is a switch of the caller's own, so the wait takes no async
    /// frame (a parked task keeps every frame of its call chain; the design article, "Memory
    /// per connection").
    @inlinable @inline(__always)
    nonisolated(nonsending) func waitUntilReady(_ handle: IOHandle, for interest: Interest, _ operation: StaticString? = nil) async throws {
        let isolation = #isolation
        switch try startWait(handle, interest, operation, inActor: isolation != nil) {
        case .ready:
            return
        case .inTheLot(let scope):
            let outcome = await parkingLot.park(scope)
            try finishWait(handle, interest, operation, outcome, parkedIn: scope)
        case .withHandler(let source, let id):
            let outcome = await parkWithHandler(source, handle, interest, id)
            try finishWait(handle, interest, operation, outcome, parkedIn: nil)
        }
    }

    /// The checks before a wait, and, for a task that parks in its cancellation scope, its
    /// waiter stored: the caller then switches onto the parking lot at once, with nothing run
    /// in between.
    @usableFromInline @inline(__always)
    func startWait(_ handle: IOHandle, _ interest: Interest, _ operation: StaticString?, inActor: Bool) throws -> WaitStart {
        guard let source = sources.source(fd: handle.fd, generation: handle.generation) else {
            throw SystemCallError.closed("\(operation ?? handle.transferName(interest))", fd: handle.fd)
        }
        if source.pointee.isReady(interest) && !source.pointee.isWatched { return .ready }
        if source.pointee[waiter: interest] != nil {
            let direction = interest == .read ? "read from" : "write to"
            throw ReactorError(.busy, "\(operation ?? handle.transferName(interest)): another task is already waiting to \(direction) \(handle)")
        }
        if source.pointee.isWatched {
            // Its owner may have taken what made it ready: ask the kernel again.
            source.pointee.clearReadyAfterEAGAIN(interest)
            try armWatched(handle.fd, handle.generation, source, adding: interest)
        } else if interest == .write {
            poller.willWaitToWrite(fd: handle.fd, generation: handle.generation)
        }
        let id = nextWaiterID()
        // A task without a scope, or not its scope's task, or in another actor, parks with a
        // handler of its own.
        guard let unmanaged = currentCancellationScope() else { return .withHandler(source, id) }
        // Unretained across the park: only the scope's own task parks in it, and it exits the
        // scope (ending it) only after its waits.
        return try unmanaged._withUnsafeGuaranteedRef { scope in
            guard parksInTheLot(scope, inActor: inActor) else { return .withHandler(source, id) }
            // The scope's flag, not `Task.isCancelled`, which looks the task up through the runtime.
            if scope.isCancelled { throw CancellationError() }
            scope.parked = (handle.fd, handle.generation, interest, id)
            // No wake-up answers `.offLoop`: still there after the park, it would mean the
            // switch did not suspend the task, and its waiter stayed behind.
            scope.outcome = .offLoop
            source.pointee[waiter: interest] = Waiter(scope: unmanaged, id: id)
            return .inTheLot(unmanaged)
        }
    }

    /// The checks after a wait: where it resumed, what woke it, whether the handle is still
    /// open (a job that ran between the wake-up and now may have closed it, and its fd number
    /// may be someone else's by now).
    @usableFromInline @inline(__always)
    func finishWait(
        _ handle: IOHandle, _ interest: Interest, _ operation: StaticString?, _ outcome: WaitOutcome, parkedIn scope: Unmanaged<CancellationScope>?
    ) throws {
        if let scope {
            precondition(outcome != .offLoop, "a wait through the parking lot came back without a wake-up")
            scope._withUnsafeGuaranteedRef { $0.parked = nil }
        }
        // Every operation runs on the loop thread, and so must its continuation: resuming
        // anywhere else would race on the loop's state (see `hop`).
        if !isOnLoopThread { try resumedOffLoop("a wait on \(handle)") }
        if outcome != .ready || sources.source(fd: handle.fd, generation: handle.generation) == nil {
            try unfinishedWait(outcome, handle, operation ?? handle.transferName(interest))
        }
    }

    /// Parks the waiter of `handle` in `interest`, with a cancellation handler of its own. Out
    /// of line: its closures' contexts would take room in the frame of every task parked in
    /// a cancellation scope.
    @usableFromInline @inline(never)
    nonisolated(nonsending) func parkWithHandler(
        _ source: UnsafeMutablePointer<IOSource>, _ handle: IOHandle, _ interest: Interest, _ id: UInt64
    ) async -> WaitOutcome {
        await Self.park(
            onCancel: {
                self.runOnLoopNowOrNextTurn((self, handle.fd, handle.generation)) { reactor, fd, generation in
                    reactor.cancelWait(fd: fd, generation: generation, interest: interest, id: id)
                }
            },
            park: { continuation in
                if Task.isCancelled { return continuation.resume(returning: .cancelled) }
                // Nothing ran since the caller's checks: the source is still this handle's.
                source.pointee[waiter: interest] = Waiter(continuation: continuation, id: id)
            })
    }

    /// Throws what the outcome of a wait that did not find its handle ready (or found it
    /// closed once it woke) means. Out of line: the errors it builds would take room in the
    /// frame of every parked task.
    @inline(never)
    func unfinishedWait(_ outcome: WaitOutcome, _ handle: IOHandle, _ operation: StaticString) throws -> Never {
        switch outcome {
        case .cancelled: throw CancellationError()
        case .ready, .closed: throw SystemCallError.closed("\(operation)", fd: handle.fd)
        case .offLoop: throw ReactorError.offLoop(operation)
        }
    }

    /// Arms a watched fd for `interest` and for the direction another task already waits in.
    func armWatched(_ fd: Int32, _ generation: UInt32, _ source: UnsafeMutablePointer<IOSource>, adding interest: Interest? = nil) throws {
        try poller.arm(
            fd: fd, generation: generation, read: interest == .read || source.pointee.reader != nil,
            write: interest == .write || source.pointee.writer != nil)
    }

    /// Resumes a parked waiter with `.cancelled`, if it is still the one that was cancelled.
    func cancelWait(fd: Int32, generation: UInt32, interest: Interest, id: UInt64) {
        guard let source = sources.source(fd: fd, generation: generation),
            let waiter = source.pointee[waiter: interest], waiter.id == id
        else { return }
        source.pointee[waiter: interest] = nil
        wake(waiter, .cancelled)
    }

    /// Counts one completed operation against the running job's budget, and yields the loop
    /// once the budget is spent, so a handle that never says EAGAIN cannot starve the others.
    /// Protocols that loop over `tryRead` / `tryWrite` call it once per operation, as the
    /// `sock*` operations do. Loop thread only.
    ///
    /// The yield is deferred past I/O, as Tokio's cooperative budget is: the loop looks at epoll
    /// before the task runs again, so the readiness of every other handle is seen after at most
    /// one budget of the busy one's work, however few other jobs are ready.
    ///
    /// A budget counts work, not calls: an operation that moved many bytes also calls
    /// `chargeBudget(bytes:)`, so a job that receives 256 KiB at a time (and parses them) yields
    /// as soon as one that makes many small calls.
    @inlinable @inline(__always)
    public nonisolated(nonsending) func consumeBudget() async {
        if budget > 0 {
            budget -= 1
        } else {
            await yieldLoop()
        }
    }

    /// Yields the loop, looking at I/O before the task runs again. Not `Task.yield()`, which
    /// allocates a job for each yield (and, in a server whose tasks are isolated to the loop,
    /// started the global executor's threads). A task that could not come back to the loop
    /// (`comesBackToTheLoop`) does not yield; its first wait is refused.
    @usableFromInline
    nonisolated(nonsending) func yieldLoop() async {
        jobsSincePoll = Self.jobsBetweenPolls
        _ = await Self.parkWithoutHandler { readyQueue.append(.resume($0)) }
    }

    /// Counts the bytes an operation just moved against the running job's budget, one
    /// operation per whole 16 KiB; the next `consumeBudget()` yields once the budget
    /// is spent. Loop thread only.
    @inlinable @inline(__always)
    public func chargeBudget(bytes: Int) {
        budget &-= bytes / Self.budgetBytesPerOperation
    }
}
