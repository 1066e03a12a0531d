import DequeModule
import Synchronization

/// asyncio's `Queue`: a first-in, first-out queue between tasks, on one reactor, bounded by
/// `maxSize` (0: unbounded, as in asyncio). ``LifoQueue`` and ``PriorityQueue`` change only
/// which item `get()` takes.
///
/// ```swift
/// let jobs = Queue<Job>(maxSize: 64)
/// Task(executorPreference: reactor) { for try await job in jobs { try await run(job); try jobs.taskDone() } }
/// try await jobs.put(job)          // waits while the queue is full
/// try await jobs.join()            // until every job put was marked done
/// jobs.shutdown()                  // the consumer's loop ends once the queue is empty
/// ```
///
/// Written over `putNowait` and `getNowait`, as CPython's `queues.py` is: a task that waits in
/// `put` or `get` is woken when that may succeed and tries again, in turn. A waiter woken and
/// cancelled before it could run passes its wake-up on. On the queue's reactor's loop thread
/// nothing takes a lock, and nothing allocates once the storage has grown to `maxSize`; from
/// elsewhere it is still correct (the thread rule: the article "Coordination"), so one
/// reactor can feed another.
///
/// The operations are inlinable, so they are specialised for the element type where they are
/// called: unspecialised, each would look up its storage's generic type at run time.
public class Queue<Element: Sendable>: @unchecked Sendable {
    /// Which item `get()` takes.
    @usableFromInline
    enum Discipline {
        case firstIn
        case lastIn
        case smallest(@Sendable (Element, Element) -> Bool)
    }

    public let reactor: Reactor
    /// The most items the queue holds; 0 means no bound.
    public let maxSize: Int
    @usableFromInline let discipline: Discipline
    /// The items, in the order the discipline keeps them (loop thread).
    @usableFromInline @exclusivity(unchecked) final var items = Deque<Element>()
    @usableFromInline let getters: WaitQueue
    @usableFromInline let putters: WaitQueue
    @usableFromInline let joiners: WaitQueue
    @usableFromInline let itemCount = Atomic<Int>(0)
    @usableFromInline let unfinished = Atomic<Int>(0)
    @usableFromInline let isShutDown = Atomic<Bool>(false)

    /// A queue of at most `maxSize` items (0: unbounded) on `reactor`, by default the one whose
    /// loop runs on this thread.
    public convenience init(maxSize: Int = 0, on reactor: Reactor? = nil) {
        self.init(maxSize: maxSize, on: reactor, discipline: .firstIn)
    }

    init(maxSize: Int, on reactor: Reactor?, discipline: Discipline) {
        self.reactor = Reactor.owner(reactor, of: "\(Self.self)()")
        self.maxSize = Swift.max(0, maxSize)
        self.discipline = discipline
        getters = WaitQueue(on: self.reactor)
        putters = WaitQueue(on: self.reactor)
        joiners = WaitQueue(on: self.reactor)
        for waiters in [getters, putters, joiners] { waiters.owner = self }
    }

    /// How many items are queued.
    @inlinable public final var count: Int { itemCount.load(ordering: .relaxed) }
    @inlinable public final var isEmpty: Bool { count == 0 }
    /// True when `put` would wait; never for an unbounded queue.
    @inlinable public final var isFull: Bool { maxSize > 0 && count >= maxSize }
    /// Items put and not yet marked done with `taskDone()`.
    @inlinable public final var unfinishedTasks: Int { unfinished.load(ordering: .relaxed) }

    /// Adds `item`, waiting while the queue is full. Throws ``QueueShutDown`` once the queue is
    /// shut down, `CancellationError` if the task is cancelled first (the item is not added),
    /// and ``ReactorError`` (`.shutDown`) when the reactor shuts down.
    @inlinable
    public final nonisolated(nonsending) func put(_ item: Element, file: StaticString = #fileID, line: UInt = #line) async throws {
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop((self, item), file: file, line: line) { queue, item in try await queue.put(item) }
        }
        while isFull {
            if isShutDown.load(ordering: .relaxed) { throw QueueShutDown() }
            try await waitInTurn(putters, "Queue.put")
        }
        try putOnLoop(item)
    }

    /// Removes and returns the next item, waiting while the queue is empty. Throws
    /// ``QueueShutDown`` once the queue is shut down and empty, `CancellationError` if the
    /// task is cancelled first (no item is taken), and ``ReactorError`` (`.shutDown`) when the
    /// reactor shuts down.
    @inlinable
    public final nonisolated(nonsending) func get(file: StaticString = #fileID, line: UInt = #line) async throws -> Element {
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { queue in try await queue.get() }
        }
        while isEmpty {
            if isShutDown.load(ordering: .relaxed) { throw QueueShutDown() }
            try await waitInTurn(getters, "Queue.get")
        }
        return getOnLoop()
    }

    /// Adds `item` if there is room. Throws ``QueueFull`` when there is none and
    /// ``QueueShutDown`` once the queue is shut down. From a thread that runs no reactor it
    /// blocks that thread until the loop ran it (a task on Swift's global executor blocks one
    /// of its few threads: prefer `put` there); from another reactor's loop thread it is
    /// refused (``ReactorError``, `.wrongReactor`): use `put`.
    @inlinable
    public final func putNowait(_ item: Element) throws {
        if reactor.isOnLoopThread { return try putOnLoop(item) }
        try reactor.runOnLoopAndWait("Queue.putNowait") { try self.putOnLoop(item) }
    }

    /// Removes and returns the next item if there is one. Throws ``QueueEmpty`` when there is
    /// none (``QueueShutDown`` once the queue is also shut down). Off the loop thread it runs
    /// on the loop as `putNowait` does: blocking a plain thread, refused from another
    /// reactor's loop thread (use `get`).
    @inlinable
    public final func getNowait() throws -> Element {
        if reactor.isOnLoopThread { return try getNowaitOnLoop() }
        return try reactor.runOnLoopAndWait("Queue.getNowait") { try self.getNowaitOnLoop() }
    }

    /// Marks one item that `get` returned as processed (asyncio's `task_done()`); `join()`
    /// returns once every item put is. Throws ``ReactorError`` (`.invalidState`) when called
    /// more times than items were put.
    @inlinable
    public final func taskDone() throws {
        guard unfinishedTasks > 0 else { throw ReactorError.invalidState(Self.tooManyTaskDones) }
        reactor.runOnLoopNowOrNextTurn(self) { queue in queue.finishTask() }
    }

    /// Waits until every item put has been marked done with `taskDone()`: at once if none is
    /// pending. Throws `CancellationError` if the task is cancelled first, and ``ReactorError``
    /// (`.shutDown`) when the reactor shuts down.
    public final nonisolated(nonsending) func join(file: StaticString = #fileID, line: UInt = #line) async throws {
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { queue in try await queue.join() }
        }
        if unfinishedTasks == 0 { return }
        try await joiners.waitInTurn("Queue.join")
    }

    /// Shuts the queue down (Python 3.13): `put` throws ``QueueShutDown`` from now on, and so
    /// does `get` once the queue is empty; the tasks waiting in either wake to find out.
    /// `immediate` also drops the queued items, marking them done, so `join()` returns once
    /// the items already taken are marked done too.
    public final func shutdown(immediate: Bool = false) {
        isShutDown.store(true, ordering: .relaxed)
        reactor.runOnLoopNowOrNextTurn((self, immediate)) { queue, immediate in queue.shutDownOnLoop(immediate: immediate) }
    }

    // MARK: - On the loop thread

    @inlinable
    final func putOnLoop(_ item: Element) throws {
        if isShutDown.load(ordering: .relaxed) { throw QueueShutDown() }
        if isFull { throw QueueFull() }
        switch discipline {
        case .firstIn, .lastIn: items.append(item)
        case .smallest(let areInIncreasingOrder): items.heapInsert(item, by: areInIncreasingOrder)
        }
        itemCount.store(items.count, ordering: .relaxed)
        unfinished.store(unfinishedTasks + 1, ordering: .relaxed)
        getters.wakeOne()
    }

    @inlinable
    final func getNowaitOnLoop() throws -> Element {
        if isEmpty { throw isShutDown.load(ordering: .relaxed) ? QueueShutDown() as any Error : QueueEmpty() }
        return getOnLoop()
    }

    @inlinable
    final func getOnLoop() -> Element {
        let item: Element
        switch discipline {
        case .firstIn: item = items.removeFirst()
        case .lastIn: item = items.removeLast()
        case .smallest(let areInIncreasingOrder): item = items.heapRemoveFirst(by: areInIncreasingOrder)
        }
        itemCount.store(items.count, ordering: .relaxed)
        putters.wakeOne()
        return item
    }

    /// Parks in `waiters` until woken. A waiter woken and cancelled before it ran passes the
    /// wake-up on to the next, unless the state that made it wait is back.
    @inlinable
    final nonisolated(nonsending) func waitInTurn(_ waiters: WaitQueue, _ operation: StaticString) async throws {
        try await waiters.waitInTurn(operation) {
            let stillBlocked = waiters === putters ? isFull : isEmpty
            if !stillBlocked { waiters.wakeOne() }
        }
    }

    @usableFromInline
    final func finishTask() {
        let left = unfinishedTasks - 1
        guard left >= 0 else { return reactor.reportLateMisuse(.invalidState(Self.tooManyTaskDones)) }
        unfinished.store(left, ordering: .relaxed)
        if left == 0 { joiners.wakeAll() }
    }

    private final func shutDownOnLoop(immediate: Bool) {
        if immediate {
            let dropped = items.count
            items.removeAll()
            itemCount.store(0, ordering: .relaxed)
            unfinished.store(Swift.max(0, unfinishedTasks - dropped), ordering: .relaxed)
            if unfinishedTasks == 0 { joiners.wakeAll() }
        }
        getters.wakeAll()
        putters.wakeAll()
    }

    @usableFromInline static var tooManyTaskDones: String { "Queue.taskDone: called more times than items were put" }
}

extension Queue: AsyncSequence {
    /// Takes items with `get()` until the queue is shut down and empty, which ends the
    /// sequence; other errors (cancellation) are thrown.
    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline let queue: Queue

        @inlinable
        init(queue: Queue) { self.queue = queue }

        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> Element? {
            do {
                return try await queue.get()
            } catch is QueueShutDown {
                return nil
            }
        }

        @inlinable
        public mutating func next() async throws -> Element? {
            try await next(isolation: nil)
        }
    }

    @inlinable
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(queue: self)
    }
}
