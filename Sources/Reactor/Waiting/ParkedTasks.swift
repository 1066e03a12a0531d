import CReactor

extension Reactor {
    /// A task parked on this reactor, and what it waits on: a look inside a running loop
    /// (aiomonitor's `ps`). Every wait of the reactor parks through its one waiter primitive,
    /// so the loop finds them all from what it keeps anyway: the handles' waiters, the wait
    /// queues that have waiters, the sleeps' timers. A task that waits elsewhere (for a
    /// blocking-pool job, a child task, another task's value, an actor) is not among them.
    public struct ParkedTask: Sendable, CustomStringConvertible {
        /// What a task waits on.
        public enum Wait: Sendable, Equatable {
            /// To read from, or write to, a handle: its fd, and for a socket its own address
            /// (a server's, for a connection it accepted) and its peer's, if it has one.
            case read(fd: Int32, local: SocketAddress?, peer: SocketAddress?)
            case write(fd: Int32, local: SocketAddress?, peer: SocketAddress?)
            /// In a `WaitQueue`: what it belongs to (a `Lock`, a `Queue`, a `StreamWriter`'s
            /// drain), with its type and address.
            case queue(String)
            /// In `sleep(for:)`, with the time left.
            case sleep(remaining: Duration)
        }

        /// The id of this wait, which ``Reactor/cancelParkedTask(_:)`` takes: no other wait on
        /// the reactor has it, so a task that has moved on to another wait (or ended) is not
        /// reached by it.
        public let id: UInt64
        public let wait: Wait
        /// The task's address.
        let task: UInt

        public var description: String { "\(id) waiting: \(waitDescription)" }

        /// What the task waits on, in words.
        public var waitDescription: String {
            switch wait {
            case .read(let fd, let local, let peer): "read fd \(fd)\(Self.describe(local, peer))"
            case .write(let fd, let local, let peer): "write fd \(fd)\(Self.describe(local, peer))"
            case .queue(let owner): "queue \(owner)"
            case .sleep(let remaining): "sleep \(remaining) left"
            }
        }

        private static func describe(_ local: SocketAddress?, _ peer: SocketAddress?) -> String {
            (local.map { " local \($0)" } ?? "") + (peer.map { " peer \($0)" } ?? "")
        }
    }

    /// The tasks parked on this reactor now. Loop thread only.
    public func parkedTasks() -> [ParkedTask] {
        assertOnLoop("parkedTasks")
        return parked { _ in true }
    }

    /// Cancels the task parked in the wait `id` names, if it is still parked there (as
    /// `Task.cancel()` would), and answers whether it was. Loop thread only: a task parked here
    /// cannot end while the loop runs this.
    public func cancelParkedTask(_ id: UInt64) -> Bool {
        assertOnLoop("cancelParkedTask")
        guard let found = parked(where: { $0.id == id }) else { return false }
        unsafeBitCast(found.task, to: UnsafeCurrentTask.self).cancel()
        return true
    }

    /// The parked task in wait `id`, if any. Loop thread only.
    public func parkedTask(_ id: UInt64) -> ParkedTask? {
        assertOnLoop("parkedTask")
        return parked(where: { $0.id == id })
    }

    /// The ids of the waits parked now, with nothing looked up. Loop thread only.
    package func parkedWaitIDs() -> [UInt64] {
        assertOnLoop("parkedWaitIDs")
        return parked(matching: { _ in true }, resolving: false).map(\.id)
    }

    /// Names a job the loop has just run, for debug mode's report of a slow one: a task by what
    /// it waits on now (its wait's id, as the monitor's `ps` has it), if it parked.
    func describe(_ work: ReadyWork) -> String {
        let job: UnownedJob
        switch work {
        case .job(let task), .isolatedJob(let task): job = task
        case .resume: return "a task's return to the queue after it yielded the loop"
        case .callback: return "a callback (callSoonThreadsafe, callLater)"
        }
        let task = unsafeBitCast(job, to: UInt.self)
        guard let parked = parked(where: { $0.task == task }) else { return "a task, which is ready again or has finished" }
        return "a task, which then waited: \(parked.description)"
    }

    /// The first parked task `matches` takes, with its socket's address looked up.
    private func parked(where matches: (ParkedTask) -> Bool) -> ParkedTask? {
        parked(matching: matches, first: true).first
    }

    /// The parked tasks `matches` takes; the socket addresses are looked up only for those,
    /// and only when `resolving`.
    private func parked(matching matches: (ParkedTask) -> Bool, first: Bool = false, resolving: Bool = true) -> [ParkedTask] {
        var found: [ParkedTask] = []
        func consider(_ task: ParkedTask) -> Bool {
            guard matches(task) else { return false }
            found.append(task)
            return first
        }
        for (fd, interest, waiter) in sources.parkedWaits {
            let bare = ParkedTask(
                id: waiter.id, wait: interest == .read ? .read(fd: fd, local: nil, peer: nil) : .write(fd: fd, local: nil, peer: nil), task: waiter.task)
            guard matches(bare) else { continue }
            guard resolving else {
                found.append(bare)
                continue
            }
            var local = SocketAddress(), peer = SocketAddress()
            let hasLocal = local.withUnsafeMutableStorage { cr_getsockname(fd, $0, $1) } == 0
            let hasPeer = hasLocal && peer.withUnsafeMutableStorage { cr_getpeername(fd, $0, $1) } == 0
            let (ours, theirs) = (hasLocal ? local : nil, hasPeer ? peer : nil)
            found.append(ParkedTask(
                id: waiter.id, wait: interest == .read ? .read(fd: fd, local: ours, peer: theirs) : .write(fd: fd, local: ours, peer: theirs),
                task: waiter.task))
            if first { return found }
        }
        var queue = firstWaitingQueue
        while let current = queue {
            let (waiters, owner) = current.parked
            for waiter in waiters where consider(ParkedTask(id: waiter.id, wait: .queue(owner), task: waiter.task)) { return found }
            queue = current.nextQueueWithWaiters
        }
        let now = cr_monotonic_ns()
        for sleeper in timers.sleepers {
            // A sleep has no waiter id of its own: its timer's, marked by the top bit.
            let id = 1 << 63 | UInt64(sleeper.timer.generation) << 32 | UInt64(UInt32(bitPattern: sleeper.timer.slot))
            if consider(ParkedTask(id: id, wait: .sleep(remaining: .nanoseconds(max(0, sleeper.deadline - now))), task: sleeper.task)) { return found }
        }
        return found
    }
}

extension ObjectIdentifier {
    /// The object's address in hexadecimal.
    var hexAddress: String { "0x" + String(UInt(bitPattern: self), radix: 16) }
}
