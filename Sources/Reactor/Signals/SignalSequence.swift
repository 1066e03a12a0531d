import CReactor
import Glibc

/// The signals a reactor receives, in the order they arrive (asyncio's `add_signal_handler`,
/// as a sequence): `for await signal in try reactor.signals(SIGTERM, SIGINT) { ... }`.
///
/// While a sequence is registered its signals never run their default action (nor another
/// handler): each one sent to the process arrives here instead, through a signalfd registered
/// with the reactor's loop. The loop thread blocks them, so the kernel queues them for its
/// signalfd; any other thread that receives one (a thread's mask is its own, and threads
/// already running cannot be made to block a signal) runs a small handler that sends it on to
/// that loop thread.
///
/// Every sequence registered for a signal, on any reactor, receives each delivery of it. A
/// signal sent again before the sequence's reader took it arrives once, as the kernel merges
/// a standard signal that is already pending.
///
/// The sequence ends (its iterator returns nil) when ``finish()`` is called, when the last
/// copy of it and of its iterators is dropped, when the task iterating it is cancelled, or
/// when the reactor shuts down. Then, once no sequence wants a signal any more, its previous
/// action (the default one, usually) is back and the loop thread's mask is as it was.
public struct SignalSequence: AsyncSequence, Sendable {
    public typealias Element = Int32

    let owner: SignalSubscription.Owner

    /// The signals this sequence receives.
    public var signals: [Int32] { owner.subscription.signals }

    /// Ends the sequence now (see the type's documentation); its waiting iterator returns nil.
    public func finish() { owner.subscription.finish() }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(owner: owner) }

    public struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        let owner: SignalSubscription.Owner

        /// The next signal, or nil once the sequence has ended.
        public mutating func next(isolation actor: isolated (any Actor)? = #isolation) async -> Int32? {
            await owner.subscription.next()
        }
    }
}

extension Reactor {
    /// Registers for `signals` and returns the sequence of their arrivals (see
    /// ``SignalSequence``). It runs on the loop thread: called elsewhere, it waits for the loop
    /// from a thread that runs no reactor, and is refused (`ReactorError`, `.wrongReactor`)
    /// from another reactor's loop thread.
    ///
    /// Throws `ReactorError` (`.invalidArgument`) for a number that is no signal, for SIGKILL and
    /// SIGSTOP, which cannot be caught, for the signals of a fault (SIGSEGV, SIGBUS, SIGFPE,
    /// SIGILL, SIGTRAP, SIGSYS), which must run in the thread that faulted, and for the two
    /// glibc keeps for itself (32 and 33).
    public func signals(_ signals: Int32...) throws -> SignalSequence {
        try self.signals(signals)
    }

    /// ``signals(_:)-(Int32...)`` with the signals in an array.
    public func signals(_ signals: [Int32]) throws -> SignalSequence {
        let wanted = Array(Set(signals)).sorted()
        for signal in wanted where !Self.canReceive(signal) {
            throw ReactorError(.invalidArgument, "signal \(signal) cannot be received as a sequence")
        }
        let subscription = try runOnLoopAndWait("signals") { [self] in
            try SignalSubscription(reactor: self, signals: wanted)
        }
        return SignalSequence(owner: SignalSubscription.Owner(subscription))
    }

    private static func canReceive(_ signal: Int32) -> Bool {
        let uncatchable: Set<Int32> = [SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, 32, 33]
        return signal > 0 && signal < 65 && !uncatchable.contains(signal)
    }
}
