import Synchronization

/// asyncio's `Future`: a result that is set once, by code that need not be a task (a callback,
/// another thread), and awaited by any number of tasks.
///
/// ```swift
/// let reply = Future<[UInt8]>()
/// client.onReply { bytes in try? reply.setResult(bytes) }   // any thread
/// let bytes = try await reply.value()
/// ```
///
/// Setting the result (or an error, or cancelling) is exact from any thread: the first wins
/// and a second throws ``ReactorError`` (`.invalidState`), asyncio's `InvalidStateError`, and
/// the future is done at once, on every thread. The waiters wake, and the done callbacks are
/// scheduled, on the future's reactor's loop: at once on its thread, in the loop's next turn
/// from elsewhere (the thread rule: the article "Coordination"); once the reactor has shut
/// down, callbacks are dropped. A task cancelled while it awaits throws `CancellationError`
/// and leaves the future as it was.
public final class Future<Value: Sendable>: @unchecked Sendable {
    /// Identifies a done callback, to remove it.
    public struct CallbackID: Hashable, Sendable {
        let rawValue: Int
    }

    private enum Outcome {
        case value(Value)
        case error(any Error)
        case cancelled
    }

    private enum State: UInt8 {
        case pending
        /// An outcome was claimed and is being written.
        case completing
        case done
    }

    public let reactor: Reactor
    let waiters: WaitQueue
    private let stateValue = Atomic<UInt8>(State.pending.rawValue)
    /// Written once, by the call that claimed the future, before it marks the future done.
    private var outcome: Outcome?
    @exclusivity(unchecked) private var callbacks: [(id: CallbackID, callback: @Sendable (Future) -> Void)] = []
    private let lastCallbackID = Atomic<Int>(0)

    /// A pending future on `reactor`, by default the one whose loop runs on this thread.
    public init(on reactor: Reactor? = nil) {
        self.reactor = Reactor.owner(reactor, of: "Future()")
        waiters = WaitQueue(on: self.reactor)
        waiters.owner = self
    }

    private var state: State { State(rawValue: stateValue.load(ordering: .acquiring))! }

    /// True once a result, an error or a cancellation was set.
    public var isDone: Bool { state == .done }

    /// True once the future was cancelled.
    public var isCancelled: Bool {
        guard isDone, case .cancelled = outcome else { return false }
        return true
    }

    /// Completes the future with `value`. Throws ``ReactorError`` (`.invalidState`) when it was
    /// already completed (or cancelled).
    public func setResult(_ value: Value) throws {
        guard claim() else { throw ReactorError.invalidState("Future.setResult: the future is already done") }
        publish(.value(value))
    }

    /// Completes the future with `error` (asyncio's `set_exception`). Throws ``ReactorError``
    /// (`.invalidState`) when it was already completed (or cancelled).
    public func setError(_ error: any Error) throws {
        guard claim() else { throw ReactorError.invalidState("Future.setError: the future is already done") }
        publish(.error(error))
    }

    /// Cancels the future: its waiters throw `CancellationError`. False, changing nothing,
    /// when it was already completed.
    @discardableResult
    public func cancel() -> Bool {
        guard claim() else { return false }
        publish(.cancelled)
        return true
    }

    /// The result, without waiting (asyncio's `result()`). Throws the error the future was
    /// completed with, `CancellationError` if it was cancelled, and ``ReactorError``
    /// (`.invalidState`) while it is not done.
    public func result() throws -> Value {
        guard isDone, let outcome else { throw ReactorError.invalidState("Future.result: the future is not done") }
        switch outcome {
        case .value(let value): return value
        case .error(let error): throw error
        case .cancelled: throw CancellationError()
        }
    }

    /// Waits until the future is done and returns its result (asyncio's `await future`), or
    /// throws its error; throws `CancellationError` if it was cancelled, or if the awaiting
    /// task is (which leaves the future as it was), and ``ReactorError`` (`.shutDown`) when the
    /// reactor shuts down.
    public nonisolated(nonsending) func value(file: StaticString = #fileID, line: UInt = #line) async throws -> Value {
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { future in try await future.value() }
        }
        while !isDone {
            try await waiters.waitInTurn("Future.value")
        }
        return try result()
    }

    /// Schedules `callback` to run on the loop, with the future, once it is done: in a later
    /// turn, at once if it is done already (asyncio's `add_done_callback`).
    @discardableResult
    public func addDoneCallback(_ callback: @escaping @Sendable (Future) -> Void) -> CallbackID {
        let id = CallbackID(rawValue: lastCallbackID.add(1, ordering: .relaxed).newValue)
        reactor.runOnLoopNowOrNextTurn((self, id, callback)) { future, id, callback in
            if future.isDone {
                future.reactor.callSoonThreadsafe { callback(future) }
            } else {
                future.callbacks.append((id, callback))
            }
        }
        return id
    }

    /// Removes a done callback that has not been scheduled yet.
    public func removeDoneCallback(_ id: CallbackID) {
        reactor.runOnLoopNowOrNextTurn((self, id)) { future, id in future.callbacks.removeAll { $0.id == id } }
    }

    private func claim() -> Bool {
        stateValue.compareExchange(
            expected: State.pending.rawValue, desired: State.completing.rawValue, ordering: .acquiringAndReleasing
        ).exchanged
    }

    /// Marks the future done with the claimed outcome, then, on the loop, wakes its waiters
    /// and schedules its callbacks. A waiter that looks before the wake-up finds it done; one
    /// that parked before the mark is woken after it.
    private func publish(_ outcome: Outcome) {
        self.outcome = outcome
        stateValue.store(State.done.rawValue, ordering: .releasing)
        reactor.runOnLoopNowOrNextTurn(self) { future in
            future.waiters.wakeAll()
            let callbacks = future.callbacks
            future.callbacks = []
            for entry in callbacks { future.reactor.callSoonThreadsafe { entry.callback(future) } }
        }
    }
}
