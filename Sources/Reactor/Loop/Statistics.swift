import CReactor

extension Reactor {
    /// What a reactor's loop has done, and what it holds now: what an operator needs to see how
    /// busy a loop is (the `ReactorMetrics` target reports it through swift-metrics). Counted
    /// per loop turn, never per message.
    public struct Statistics: Sendable {
        /// Loop turns since the reactor started.
        public var turns: UInt64
        /// Time spent in the poller's wait (epoll_wait or io_uring_enter, with the dispatch of
        /// what it reported), and the rest, since ``Reactor/measureLoopTime()``; both zero
        /// before. The loop's utilisation is busy / (busy + waiting).
        public var waitingTime: Duration
        public var busyTime: Duration
        /// Jobs ready to run, waiting for the loop.
        public var readyJobs: Int
        /// Timers scheduled (sleeps, `callLater`, deadlines).
        public var pendingTimers: Int
        /// File descriptors registered with the loop.
        public var registeredHandles: Int
        /// Async calls made off the loop that hopped onto it: the slow path of the crossing rule.
        public var hops: UInt64
        /// Jobs and callbacks handed to the loop by other threads, through its locked inbox: a
        /// task woken or an actor called off the loop, `callSoonThreadsafe`.
        public var workFromOtherThreads: UInt64
    }

    /// Loop turns since the reactor started; from any thread.
    public var turnCount: UInt64 { turns.load(ordering: .relaxed) }

    /// The loop's statistics now. Loop thread only.
    public func statistics() -> Statistics {
        assertOnLoop("statistics")
        let elapsed = measuresLoopTime ? cr_monotonic_ns() - measuringSince : 0
        return Statistics(
            turns: turns.load(ordering: .relaxed), waitingTime: .nanoseconds(waitingNanoseconds), busyTime: .nanoseconds(elapsed - waitingNanoseconds),
            readyJobs: readyQueue.count, pendingTimers: timers.count, registeredHandles: sources.count,
            hops: hops.load(ordering: .relaxed), workFromOtherThreads: inbox.withLock { $0.received })
    }

    /// Starts timing the loop's waits for I/O, for `Statistics.waitingTime` and `busyTime`: two
    /// clock readings a turn that waits, which a reactor makes only once asked. Loop thread only.
    public func measureLoopTime() {
        assertOnLoop("measureLoopTime")
        guard !measuresLoopTime else { return }
        measuresLoopTime = true
        measuringSince = cr_monotonic_ns()
    }
}
