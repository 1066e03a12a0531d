/// How a parked task was woken.
@usableFromInline
enum WaitOutcome: Sendable {
    /// What it waited for happened (or may have: the caller looks again).
    case ready
    /// Its task was cancelled; its place was removed.
    case cancelled
    /// What it waited on was closed: the handle, or the reactor.
    case closed
    /// It did not park: it would not have come back to the loop (`Reactor.comesBackToTheLoop`).
    case offLoop
}

/// How a wait goes on after its checks (`Reactor.startWait`).
@usableFromInline
enum WaitStart {
    /// The handle is ready: no wait.
    case ready
    /// The waiter, stored, names the running task's scope: the task switches onto the parking lot.
    case inTheLot(Unmanaged<CancellationScope>)
    /// The task parks with a cancellation handler of its own, as the waiter `id`.
    case withHandler(UnsafeMutablePointer<IOSource>, UInt64)
}

/// A parked task, and the number that tells its wait apart from every later one, so that a
/// late cancellation cannot remove a wait that took its place.
///
/// A task parks with a continuation, or (a wait on a handle in the task's
/// `CancellationScope`) through the parking lot, as its job: then the waiter names the scope,
/// whose key is the task. `Reactor.wake` resumes either.
///
/// Unchecked: a continuation is `Sendable`, and a scope is touched on the loop thread only.
struct Waiter: @unchecked Sendable {
    /// The continuation, or the scope with its lowest bit set (both are aligned objects).
    private let parked: UnsafeRawPointer
    let id: UInt64

    init(continuation: UnsafeContinuation<WaitOutcome, Never>, id: UInt64) {
        parked = unsafeBitCast(continuation, to: UnsafeRawPointer.self)
        self.id = id
    }

    init(scope: Unmanaged<CancellationScope>, id: UInt64) {
        parked = UnsafeRawPointer(scope.toOpaque()) + 1
        self.id = id
    }

    /// The scope of a task parked through the parking lot.
    var scope: Unmanaged<CancellationScope>? {
        let address = UInt(bitPattern: parked)
        guard address & 1 == 1 else { return nil }
        return Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: address - 1)!)
    }

    /// The continuation of a task parked with one: every waiter but a handle's in a scope.
    var continuation: UnsafeContinuation<WaitOutcome, Never> {
        assert(scope == nil, "a waiter parked through the parking lot has no continuation")
        return unsafeBitCast(parked, to: UnsafeContinuation<WaitOutcome, Never>.self)
    }

    /// The parked task's address: the continuation is the task, and so is the scope's key.
    var task: UInt { scope?._withUnsafeGuaranteedRef { $0.key } ?? UInt(bitPattern: parked) }
}

/// The one waiter primitive: a FIFO list of parked tasks on the loop thread (asyncio's deque
/// of waiter futures in `locks.py`). Wake the first or all; a cancelled waiter is removed in
/// O(1) by the ticket `append` gave it.
///
/// The entries live in one array that is reused as waiters come and go, linked by index, so
/// parking allocates nothing once the list has held as many waiters as it ever will at once.
/// A handle's direction, which holds at most one waiter, keeps its `Waiter` inline instead
/// (`IOSource`), parked through `Reactor.park`, or, in a cancellation scope, the `ParkingLot`.
struct WaiterList {
    /// Where a waiter sits: its entry and its id (an entry is reused by later waiters).
    struct Ticket: Sendable, Equatable {
        let index: Int32
        let id: UInt64
    }

    private struct Entry {
        var waiter: Waiter?
        var previous: Int32
        var next: Int32
    }

    private var entries: [Entry] = []
    private var head: Int32 = -1
    private var tail: Int32 = -1
    /// Unused entries, linked through `next`.
    private var free: Int32 = -1
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// The ticket the next `append` of a waiter with `id` returns: a wait installs its
    /// cancellation handler, which needs the ticket, just before it parks.
    func nextTicket(id: UInt64) -> Ticket {
        Ticket(index: free >= 0 ? free : Int32(entries.count), id: id)
    }

    /// Adds `waiter` at the end.
    mutating func append(_ waiter: Waiter) -> Ticket {
        let index: Int32
        if free >= 0 {
            index = free
            free = entries[Int(index)].next
            entries[Int(index)] = Entry(waiter: waiter, previous: tail, next: -1)
        } else {
            index = Int32(entries.count)
            entries.append(Entry(waiter: waiter, previous: tail, next: -1))
        }
        if tail >= 0 { entries[Int(tail)].next = index } else { head = index }
        tail = index
        count += 1
        return Ticket(index: index, id: waiter.id)
    }

    /// Removes and returns the first waiter.
    mutating func popFirst() -> Waiter? {
        guard head >= 0 else { return nil }
        return unlink(head)
    }

    /// Removes the waiter `ticket` names, if it is still in the list.
    mutating func remove(_ ticket: Ticket) -> Waiter? {
        guard Int(ticket.index) < entries.count, entries[Int(ticket.index)].waiter?.id == ticket.id else {
            return nil
        }
        return unlink(ticket.index)
    }

    /// The waiters, first to last.
    var all: [Waiter] {
        var waiters: [Waiter] = []
        var index = head
        while index >= 0 {
            if let waiter = entries[Int(index)].waiter { waiters.append(waiter) }
            index = entries[Int(index)].next
        }
        return waiters
    }

    /// Wakes every waiter with `outcome`, in order.
    mutating func wakeAll(_ outcome: WaitOutcome = .ready) {
        while let waiter = popFirst() { waiter.continuation.resume(returning: outcome) }
    }

    private mutating func unlink(_ index: Int32) -> Waiter? {
        let entry = entries[Int(index)]
        if entry.previous >= 0 { entries[Int(entry.previous)].next = entry.next } else { head = entry.next }
        if entry.next >= 0 { entries[Int(entry.next)].previous = entry.previous } else { tail = entry.previous }
        entries[Int(index)] = Entry(waiter: nil, previous: -1, next: free)
        free = index
        count -= 1
        return entry.waiter
    }
}
