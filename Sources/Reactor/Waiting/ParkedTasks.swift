import CReactor

extension Reactor {
    /// A task parked on this reactor, and what it waits on: a look inside a running loop
    /// (aiomonitor's `ps`, asyncio's `all_tasks`). Every wait of the reactor parks through its
    /// one waiter primitive, so the loop finds them all from what it keeps anyway: the handles'
    /// waiters, the wait queues that have waiters, the sleeps' timers.
    public struct ParkedTask: Sendable, CustomStringConvertible {
        /// What a task waits on.
        public enum Wait: Sendable, Equatable {
            /// To read from, or write to, a handle: its fd, and for a socket its address: the
            /// peer's if it is connected, else its own (a listener's).
            case read(fd: Int32, address: SocketAddress?, isPeer: Bool)
            case write(fd: Int32, address: SocketAddress?, isPeer: Bool)
            /// In a `WaitQueue`: what it belongs to (a `Lock`, a `Queue`, a `StreamWriter`'s
            /// drain), with its type and address.
            case queue(String)
            /// In `sleep(for:)`, with the time left.
            case sleep(remaining: Duration)
        }

        /// The task's identity while it lives (its address), which ``Reactor/cancelParkedTask(_:)``
        /// takes.
        public let id: UInt
        public let wait: Wait

        public var description: String { "\(id) waiting: \(waitDescription)" }

        /// What the task waits on, in words.
        public var waitDescription: String {
            switch wait {
            case .read(let fd, let address, let isPeer): "read fd \(fd)\(Self.describe(address, isPeer))"
            case .write(let fd, let address, let isPeer): "write fd \(fd)\(Self.describe(address, isPeer))"
            case .queue(let owner): "queue \(owner)"
            case .sleep(let remaining): "sleep \(remaining) left"
            }
        }

        private static func describe(_ address: SocketAddress?, _ isPeer: Bool) -> String {
            address.map { isPeer ? " peer \($0)" : " local \($0)" } ?? ""
        }
    }

    /// The tasks parked on this reactor now. Loop thread only.
    public func parkedTasks() -> [ParkedTask] {
        assertOnLoop("parkedTasks")
        var tasks = sources.parkedWaits.map { fd, interest, task in
            var address = SocketAddress()
            let isPeer = address.withUnsafeMutableStorage { cr_getpeername(fd, $0, $1) } == 0
            let known = isPeer || address.withUnsafeMutableStorage { cr_getsockname(fd, $0, $1) } == 0
            let (socket, peer) = (known ? address : nil, isPeer)
            return ParkedTask(id: task, wait: interest == .read ? .read(fd: fd, address: socket, isPeer: peer) : .write(fd: fd, address: socket, isPeer: peer))
        }
        var queue = firstWaitingQueue
        while let current = queue {
            let (waiting, owner) = current.parked
            tasks += waiting.map { ParkedTask(id: $0, wait: .queue(owner)) }
            queue = current.nextQueueWithWaiters
        }
        let now = cr_monotonic_ns()
        tasks += timers.sleepers.map { ParkedTask(id: $0.task, wait: .sleep(remaining: .nanoseconds(max(0, $0.deadline - now)))) }
        return tasks
    }

    /// Names a job the loop has just run, for debug mode's report of a slow one: a task by its
    /// id (as the monitor's `ps` has it) and what it waits on now, if it parked.
    func describe(_ work: ReadyWork) -> String {
        guard case .job(let job) = work else { return "a callback (callSoonThreadsafe, callLater)" }
        let id = unsafeBitCast(job, to: UInt.self)
        guard let parked = parkedTasks().first(where: { $0.id == id }) else { return "task \(id), which is ready again or has finished" }
        return "task \(id), which then waited: \(parked.waitDescription)"
    }

    /// Cancels the task `id` names if it is parked on this reactor now (as `Task.cancel()`
    /// would), and answers whether it was. Loop thread only: a task parked here cannot end
    /// while the loop runs this.
    public func cancelParkedTask(_ id: UInt) -> Bool {
        guard parkedTasks().contains(where: { $0.id == id }) else { return false }
        unsafeBitCast(id, to: UnsafeCurrentTask.self).cancel()
        return true
    }
}

extension ObjectIdentifier {
    /// The object's address in hexadecimal.
    var hexAddress: String { "0x" + String(UInt(bitPattern: self), radix: 16) }
}
