import CReactor
import DequeModule

/// One ``SignalSequence``'s registration: the signals it wants, the arrivals its iterator has
/// not taken yet, and the task waiting for the next one. Loop-thread state, except `signals`,
/// `reactor` and `loopThreadID`, which `SignalRouting` reads from any loop thread.
final class SignalSubscription: @unchecked Sendable {
    let reactor: Reactor
    let signals: [Int32]
    /// The reactor's loop thread (gettid), which signals sent on by the handler go to.
    let loopThreadID: Int32
    /// Each signal at most once: one that arrives again before it was taken is merged.
    @exclusivity(unchecked) private var arrived = Deque<Int32>()
    @exclusivity(unchecked) private(set) var isFinished = false
    private let arrivals: WaitQueue

    /// Registers on the loop thread of `reactor`.
    init(reactor: Reactor, signals: [Int32]) throws {
        self.reactor = reactor
        self.signals = signals
        self.loopThreadID = cr_gettid()
        self.arrivals = WaitQueue(on: reactor)
        arrivals.owner = self
        try reactor.listeningForSignals().add(self)
    }

    /// Ends the sequence when the last copy of it and its iterators is gone.
    final class Owner: Sendable {
        let subscription: SignalSubscription
        init(_ subscription: SignalSubscription) { self.subscription = subscription }
        deinit { subscription.finish() }
    }

    /// A signal arrived (loop thread).
    func receive(_ signal: Int32) {
        guard !isFinished else { return }
        if !arrived.contains(signal) { arrived.append(signal) }
        arrivals.wakeOne()
    }

    func next() async -> Int32? {
        try? await reactor.runOnLoop(self) { subscription in await subscription.nextOnLoop() }
    }

    private func nextOnLoop() async -> Int32? {
        while true {
            if let signal = arrived.popFirst() { return signal }
            if isFinished { return nil }
            do {
                try await arrivals.wait()
            } catch {
                finish()  // cancelled, or the reactor shut down
                return nil
            }
        }
    }

    /// Unregisters (from any thread: on the loop thread, at once or in its next turn) and wakes
    /// the waiting iterator, which returns nil.
    func finish() {
        reactor.runOnLoopNowOrNextTurn(self) { subscription in
            guard !subscription.isFinished else { return }
            subscription.isFinished = true
            subscription.arrived.removeAll()
            subscription.reactor.signalListener?.remove(subscription)
            subscription.arrivals.wakeAll()
        }
    }
}
