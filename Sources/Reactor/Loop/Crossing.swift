import CReactor
import Glibc

/// The one rule for crossing onto the loop (the design article, "The crossing rule").
///
/// - **In place**: a call made on this reactor's loop thread, outside any actor or in an
///   actor isolated to the loop, runs where it is called. That is the fast path every
///   per-message operation is built for.
/// - **Hop**: an async call made anywhere else (another thread, the global executor, another
///   actor, even one that happens to run on the loop thread) runs on the loop in a child
///   task that prefers the reactor, and the caller resumes where it was. Correct, but slower;
///   debug mode reports each call site whose operation hopped, once.
/// - **Next turn**: a synchronous call that returns nothing (`close()`, `write`) made off the
///   loop thread is handed to the loop and runs in its next turn.
/// - **Refused**: once the reactor has shut down, hops throw `ReactorError` (`.shutDown`); a
///   handle passed to another reactor's operation throws `.wrongReactor`; the loop-only
///   primitives (`tryRead`, `tryWrite`, timers' `callLater`) stop the process with a clear
///   message when called off the loop thread, as a data race would otherwise follow.
///
/// The helpers are named for what they do: `runOnLoop` (async: in place, or a hop),
/// `runOnLoopNowOrNextTurn` (synchronous, returns nothing: in place, or the next turn),
/// `runOnLoopAndWait` (synchronous with a result: in place, or the caller blocks until the
/// loop ran it), `callSoonThreadsafe` (always a later turn, asyncio's); `isOnLoopThread` and
/// `runsInPlace` answer where a call is.
extension Reactor {
    /// True on this reactor's loop thread, while the loop runs. The reactor's address, bit
    /// cast: through `Unmanaged` the compiler left a retain and a release of the reactor at
    /// every call.
    @inlinable
    public var isOnLoopThread: Bool {
        cr_current_reactor() == unsafeBitCast(self, to: UnsafeMutableRawPointer.self)
    }

    /// Whether a `nonisolated(nonsending)` operation called with `isolation` (its caller's
    /// `#isolation`) runs where it is called: on this reactor's thread, in no actor or in an
    /// actor isolated to the loop (whose executor is `asUnownedSerialExecutor()`; on the
    /// portable cancellation path, only for a task without an executor preference). Another
    /// actor's code can run on the loop thread (a task that prefers the reactor runs its
    /// actors there), but a wait inside it resumes on that actor's executor, which may be
    /// draining on another thread by then.
    @inlinable
    public func runsInPlace(_ isolation: (any Actor)?) -> Bool {
        // An actor's code runs in a job of the loop's serial executor only if the actor is
        // isolated to the loop: the runtime never lends that executor's thread to another.
        (isolation == nil || (runningIsolated && Self.parksWithoutLeavingTheActor)) && isOnLoopThread
    }

    /// A wait that resumed off the loop thread, when every wait the loop wakes resumes on it
    /// while it runs. A task isolated to the loop whose wake-up went through the global
    /// executor (on the portable cancellation path) may come back only after the loop ended:
    /// it finds the reactor shut down. Anything else is a bug of the loop's. Not inlined: a
    /// parked task's frame holds what its wait's code needs after the wait.
    @inline(never)
    func resumedOffLoop(_ what: String) throws -> Never {
        guard inbox.withLock({ $0.closed }) else { preconditionFailure("\(what) resumed off its reactor's thread") }
        throw ReactorError.shutDown(what)
    }

    /// Runs `body(arguments)` on this reactor's loop: in place when the caller is already
    /// there (see `runsInPlace`), else by hopping there for its duration. Throws
    /// `ReactorError` (`.shutDown`) once the reactor has shut down. Every async operation of
    /// the reactor and of the layers built on it crosses here. Debug mode reports a hop once
    /// per call site: `operation` names it, and `file` and `line` say where it was called (a
    /// public operation takes them from its own caller, as defaults, and passes them on).
    ///
    /// `body` should capture nothing, taking all it needs (the reactor too) as `arguments`: a
    /// closure that captures nothing is a plain function, so the call in place allocates
    /// nothing, and the hop can carry it.
    ///
    /// Specialised but not inlined: inlined, its hop would take room in the frame of every
    /// operation that calls it at its guard, and that frame stays on the stack of every task
    /// parked in the operation (the design article, "Memory per connection").
    @inlinable @inline(never)
    public nonisolated(nonsending) func runOnLoop<Arguments, T: Sendable>(
        _ arguments: Arguments, operation: StaticString = #function, file: StaticString = #fileID, line: UInt = #line,
        _ body: nonisolated(nonsending) @escaping (Arguments) async throws -> T
    ) async throws -> T {
        if runsInPlace(#isolation) { return try await body(arguments) }
        return try await hop(operation, at: file, line, UnsafeTransfer((arguments, body)))
    }

    /// The slow path of `runOnLoop`: runs `body` in a child task that has this reactor as its
    /// executor preference. Not `withTaskExecutorPreference` around the running task: with
    /// that, a `nonisolated(nonsending)` operation that parked resumed on the global executor
    /// in release builds, off the loop thread. The child keeps cancellation
    /// structured; it costs one task, on this slow path only.
    ///
    /// The arguments live in the caller's region and cross in an `UnsafeTransfer`: the caller
    /// waits for the hop and touches none of them meanwhile.
    @usableFromInline
    func hop<Arguments, T: Sendable>(
        _ operation: StaticString, at file: StaticString, _ line: UInt,
        _ call: UnsafeTransfer<(Arguments, nonisolated(nonsending) (Arguments) async throws -> T)>
    ) async throws -> T {
        hops.add(1, ordering: .relaxed)
        if isDebugMode { reportHop(operation, at: file, line) }
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(executorPreference: self) {
                // Unless the loop is gone (then the job went to the global executor).
                guard self.isOnLoopThread else { throw ReactorError.shutDown("\(operation)") }
                let (arguments, body) = call.value
                return try await body(arguments)
            }
            return try await group.next()!
        }
    }

    private func reportHop(_ operation: StaticString, at file: StaticString, _ line: UInt) {
        let site = "\(file):\(line)"
        let first = reportedHops.withLock { $0.insert(site).inserted }
        if first {
            logger.warning(
                "\(operation) was called off the reactor's loop thread (or inside an actor) at \(site) and hopped to it: start the task on the reactor (Task(executorPreference: reactor)) to avoid the hop")
        }
    }

    /// Runs `work(value)` on the loop thread: at once when already there, else in the loop's
    /// next turn. Once the reactor has shut down it does not run at all, and this returns
    /// false. `work` should capture nothing (pass what it needs as `value`), so the call in
    /// place allocates nothing.
    @inlinable @inline(__always) @discardableResult
    public func runOnLoopNowOrNextTurn<T: Sendable>(_ value: T, _ work: @escaping @Sendable (T) -> Void) -> Bool {
        if isOnLoopThread {
            work(value)
            return true
        }
        return enqueueFromOtherThread(.callback { work(value) })
    }

    /// Runs a short synchronous `body` on the loop thread and returns its result: in place
    /// when already there; from a thread that runs no reactor, by handing it to the loop and
    /// blocking until it ran. Refused (`ReactorError`) from another reactor's loop thread,
    /// whose loop must not block on this one, and once this reactor has shut down.
    ///
    /// For the synchronous methods of a handle (options, addresses, shutdown), which must not
    /// race the handle's `close()` on the loop.
    @usableFromInline
    package func runOnLoopAndWait<T: Sendable>(_ operation: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        if isOnLoopThread { return try body() }
        if cr_current_reactor() != nil {
            throw ReactorError(.wrongReactor, "\(operation) was called on another reactor's loop thread: use its async form or hop first")
        }
        let done = LockedValue<Result<T, any Error>?>(nil)
        let finished = BlockingSignal()
        let accepted = callSoonThreadsafe {
            let result = Result { try body() }
            done.withLock { $0 = result }
            finished.signal()
        }
        guard accepted else { throw ReactorError.shutDown(operation) }
        finished.wait()
        return try done.withLock { $0! }.get()
    }

    /// Stops the process when called off the loop thread: for the loop-only primitives.
    @inlinable @inline(__always)
    func assertOnLoop(_ operation: @autoclosure () -> String) {
        precondition(isOnLoopThread, "\(operation()) must be called on the reactor's loop thread")
    }

    /// Throws `ReactorError` (`.wrongReactor`) unless `handle` belongs to this reactor.
    @inline(__always)
    func checkOwns(_ handle: IOHandle, _ operation: @autoclosure () -> String) throws {
        guard handle.reactor === self else {
            throw ReactorError(.wrongReactor, "\(operation()) was called on a reactor that \(handle) does not belong to")
        }
    }

    /// Runs `work` on the loop thread, in a later turn (asyncio's `call_soon_threadsafe`).
    /// Returns false, without running it, when the reactor has already shut down.
    @discardableResult
    public func callSoonThreadsafe(_ work: @escaping @Sendable () -> Void) -> Bool {
        if isOnLoopThread {
            readyQueue.append(.callback(work))
            return true
        }
        return enqueueFromOtherThread(.callback(work))
    }
}

/// Carries a value that is not Sendable to code that runs while its owner waits for it and
/// touches it no more meanwhile (SwiftNIO's UnsafeTransfer).
@usableFromInline
package struct UnsafeTransfer<Value>: @unchecked Sendable {
    @usableFromInline package let value: Value
    @usableFromInline package init(_ value: Value) { self.value = value }
}
