/// The thread rule of the coordination primitives (the article "Coordination"): each belongs
/// to one reactor and keeps its state on that reactor's loop thread, where it takes no lock.
///
/// - Its async calls (`acquire`, `wait`, `get`, `put`, `join`, `value`) cross onto the loop by
///   the one crossing rule (`runOnLoop`): in place on the loop thread, else a hop.
/// - Its synchronous calls that return nothing (`release`, `set`, `notify`, `taskDone`,
///   `shutdown`, `setResult`, ...) run in place on the loop thread and in the loop's next turn
///   from anywhere else (`runOnLoopNowOrNextTurn`). Their misuse checks (releasing a lock nobody holds)
///   read state the loop publishes in relaxed atomics, so they throw at the call from any
///   thread; a misuse that only the loop can see, later, is logged.
/// - `putNowait` and `getNowait`, whose answer the caller needs at once, run on the loop and
///   wait for it from a thread that runs no reactor, and are refused (`.wrongReactor`) from
///   another reactor's loop thread, which must not block on this one: use `put` and `get`.
/// - The observers (`isLocked`, `isSet`, `count`) read those atomics: exact on the loop thread,
///   a recent value elsewhere.
extension Reactor {
    /// The reactor a primitive belongs to: as `resolve`, but a primitive made with no reactor
    /// off every loop thread is a programming error that stops the process (its initialiser
    /// does not throw).
    static func owner(_ given: Reactor?, of primitive: String) -> Reactor {
        do {
            return try resolve(given, for: primitive)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    /// Reports a misuse that the loop found after the call that made it had returned (a call
    /// made off the loop thread runs in a later turn, where it can no longer throw).
    @usableFromInline
    func reportLateMisuse(_ error: ReactorError) {
        callExceptionHandler(ErrorContext(message: "a misuse called off the reactor's loop thread, so not thrown", error: error))
    }
}
