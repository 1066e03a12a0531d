import CReactor

extension Reactor {
    /// The loop. Each turn: wait for I/O (not at all when work is ready), wake the tasks whose
    /// sockets became ready, fire due timers, take work from other threads, then run the jobs
    /// that were ready when the turn began. Jobs made ready meanwhile wait for the next turn,
    /// so timers and other threads' work are looked at between any two rounds of work; while
    /// work is ready, I/O is looked at in the first turn that begins after `jobsBetweenPolls`
    /// jobs ran since the last look, or after a job spent its operation budget
    /// (`consumeBudget`).
    func runLoop() {
        while !stopRequested {
            turns.store(turns.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
            pollForIO()
            fireDueTimers()
            drainInbox()
            runReadyWork()
        }
        shutDownLoop()
    }

    /// How many jobs run, while work is ready, before a turn looks at I/O again (Tokio's
    /// `event_interval` is 61): tasks that wake each other, through a queue or a lock, need
    /// not pay an `epoll_wait` for each hand-off, and a socket still waits a bounded time (64
    /// jobs, or one turn's, if it ran more).
    static let jobsBetweenPolls = 64

    private func pollForIO() {
        var timeout: Int64 = -1
        if !readyQueue.isEmpty {
            if jobsSincePoll < Self.jobsBetweenPolls { return }
            timeout = 0
        } else if let deadline = timers.nextDeadline {
            timeout = max(0, deadline - cr_monotonic_ns())
        }
        if timeout != 0 {
            // Announce the sleep before the last look at the inbox (see enqueueFromOtherThread).
            sleeping.store(true, ordering: .sequentiallyConsistent)
            if remoteWorkPending.load(ordering: .sequentiallyConsistent) { timeout = 0 }
        }
        jobsSincePoll = 0
        let waitStart = measuresLoopTime ? cr_monotonic_ns() : 0
        poller.wait(timeoutNanoseconds: timeout) { event in dispatchReadiness(event) }
        if measuresLoopTime { waitingNanoseconds &+= cr_monotonic_ns() - waitStart }
        if timeout != 0 { sleeping.store(false, ordering: .sequentiallyConsistent) }
    }

    /// Records an edge on an I/O source and wakes whoever waits for it. A read-side close (the
    /// peer's FIN) closes the read side for good; a failure both sides: their next syscall
    /// reports what happened.
    private func dispatchReadiness(_ event: PollEvent) {
        guard let slot = sources.source(fd: event.fd, generation: event.generation) else { return }  // stale
        let readClosed = event.failed || event.readClosed
        if readClosed || event.readable {
            if let waiter = slot.pointee.becomeReady(.read, closed: readClosed) { wake(waiter, .ready) }
        }
        if event.failed || event.writable {
            if let waiter = slot.pointee.becomeReady(.write, closed: event.failed) { wake(waiter, .ready) }
        }
        // A watched fd's one-shot report disarmed it: arm it again for a task still waiting.
        if slot.pointee.isWatched && (slot.pointee.reader != nil || slot.pointee.writer != nil) {
            do {
                try armWatched(event.fd, event.generation, slot)
            } catch {
                // Its owner closed it: nothing will be reported again.
                if let waiter = slot.pointee.becomeReady(.read, closed: true) { wake(waiter, .closed) }
                if let waiter = slot.pointee.becomeReady(.write, closed: true) { wake(waiter, .closed) }
            }
        }
    }

    private func fireDueTimers() {
        guard !timers.isEmpty else { return }
        let now = cr_monotonic_ns()
        while let action = timers.popExpired(now: now) {
            switch action {
            case .resume(let continuation): continuation.resume(returning: .ready)
            case .callback(let callback): readyQueue.append(.callback(callback))
            case .expire(let waitDeadline): expire(waitDeadline)
            }
        }
    }

    /// How many rounds of closing and running the shutdown makes before it gives up.
    static let shutdownRounds = 1000

    private func runReadyWork() {
        var remaining = readyQueue.count
        jobsSincePoll += remaining
        while remaining > 0, let work = readyQueue.popFirst() {
            remaining -= 1
            budget = Self.operationBudget
            if let threshold = slowJobThresholdNanoseconds {
                let start = cr_monotonic_ns()
                run(work)
                let held = cr_monotonic_ns() - start
                if held > threshold {
                    logger.warning("a job held the reactor's loop for \(held / 1_000_000) ms: \(describe(work))")
                }
            } else {
                run(work)
            }
        }
    }

    @inline(__always)
    private func run(_ work: ReadyWork) {
        switch work {
        case .job(let job):
            runningJob = unsafeBitCast(job, to: UInt.self)
            job.runSynchronously(on: asUnownedTaskExecutor())
            runningJob = 0
        case .isolatedJob(let job):
            runningJob = unsafeBitCast(job, to: UInt.self)
            runningIsolated = true
            job.runSynchronously(on: asUnownedSerialExecutor())
            runningIsolated = false
            runningJob = 0
        case .resume(let continuation): continuation.resume(returning: .ready)
        case .callback(let callback): callback()
        }
    }

    /// After the loop: end the signal sequences (their signals' actions are restored), close
    /// every handle (their waiters resume with an error), cancel the sleepers, wake the tasks
    /// parked in wait queues (with an error), and run the woken tasks and the pending
    /// callbacks to the end. Repeated while those tasks open or wait on more,
    /// up to a bound; then the inbox closes for good: a job that arrives later runs on the
    /// global executor, a callback is refused.
    ///
    /// Tasks that still make work after the bound (a loop that re-arms a timer or reopens a
    /// socket on every error) cannot be quiesced: that is reported loudly, as SwiftNIO does,
    /// and stops a debug-mode reactor, rather than ending silently.
    private func shutDownLoop() {
        finishSignalSequences()
        var quiesced = false
        for _ in 0..<Self.shutdownRounds {
            for (fd, generation) in sources.openRegistrations {
                closeRegistration(fd: fd, generation: generation)
            }
            for action in timers.removeAll() {
                if case .resume(let continuation) = action { continuation.resume(returning: .cancelled) }
            }
            wakeWaitQueues()
            drainInbox()
            if readyQueue.isEmpty {
                quiesced = true
                break
            }
            // Only what was ready when the round began: a task that re-arms itself at once
            // (yields forever) must not hold the shutdown in one round.
            var remaining = readyQueue.count
            while remaining > 0, let work = readyQueue.popFirst() {
                remaining -= 1
                run(work)
            }
        }
        if !quiesced {
            logger.error(
                "the reactor could not quiesce: its tasks still made work after \(Self.shutdownRounds) rounds of shutting down; that work now runs on the global executor")
            if isDebugMode { assertionFailure("the reactor could not quiesce") }
        }
        for (fd, generation) in sources.openRegistrations {
            closeRegistration(fd: fd, generation: generation)
        }
        // From here on the inbox refuses work. The callbacks that came in before it closed
        // still run on the loop thread (a release or a future's result from another thread
        // touches state of the loop's); then the tasks they woke, and every job left, go
        // where `handOverLate` sends them, and the loop is gone.
        var late = closeInbox()
        while let work = readyQueue.popFirst() { late.append(work) }
        for work in late {
            if case .callback(let callback) = work { callback() }
        }
        wakeWaitQueues()
        while let work = readyQueue.popFirst() { late.append(work) }
        cr_set_current_reactor(nil)
        poller.close()
        // The callbacks among them have run.
        for work in late { handOverLate(work) }
        let waiters = shutdownWaiters
        shutdownWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }
}
