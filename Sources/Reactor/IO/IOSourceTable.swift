/// The direction a task waits in: readiness to read, or to write (Tokio's `Interest`).
public enum Interest: Sendable {
    case read, write
}

/// The reactor's state for one registered file descriptor: a socket, a pipe, an eventfd, any
/// fd epoll can watch (the design article, "Register once, edge-triggered").
///
/// Readiness is remembered: an edge that arrives while nobody waits sets the flag, and a
/// waiter parks only after a syscall said EAGAIN (or a short transfer showed the kernel
/// buffer empty or full). At most one reader and one writer wait: a direction is a waiter
/// list that holds one, kept inline.
///
/// The "closed" flags are sticky, as Tokio's READ_CLOSED is: once the peer's FIN (RDHUP) or a
/// hang-up or error (HUP, ERR) was seen, no more edges will come, so a short read must not
/// clear that readiness: the next recv returns 0 or the error at once.
@usableFromInline
struct IOSource {
    /// 0 while no socket holds this slot; otherwise the registration's generation.
    var generation: UInt32 = 0
    /// A byte stream (a stream socket, a pipe): a short read means the kernel buffer is
    /// empty. Not so for datagrams, whose reads are as long as the datagram.
    var isStream = true
    /// An fd that other code owns and reads (`Reactor.watch`): its registration is
    /// level-triggered and armed by each wait, and closing it leaves the fd open.
    var isWatched = false
    var readable = false
    var writable = false
    var readClosed = false
    var writeClosed = false
    var reader: Waiter?
    var writer: Waiter?

    func isReady(_ interest: Interest) -> Bool {
        interest == .read ? readable || readClosed : writable || writeClosed
    }

    /// Forgets an edge after a short transfer; sticky closed states stay.
    mutating func clearReady(_ interest: Interest) {
        if interest == .read { readable = false } else { writable = false }
    }

    /// Forgets an edge after EAGAIN, which also proves that direction is not closed (an
    /// error epoll reported, such as one on the error queue, may have been taken already).
    mutating func clearReadyAfterEAGAIN(_ interest: Interest) {
        if interest == .read {
            readable = false
            readClosed = false
        } else {
            writable = false
            writeClosed = false
        }
    }

    /// Forgets every edge, sticky ones too, and goes back to "try the syscall first": for a
    /// socket that starts connecting, whose earlier readiness said nothing of the connection.
    mutating func resetReadiness() {
        readable = true
        writable = true
        readClosed = false
        writeClosed = false
    }

    subscript(waiter interest: Interest) -> Waiter? {
        get { interest == .read ? reader : writer }
        set {
            if interest == .read { reader = newValue } else { writer = newValue }
        }
    }

    /// Records an edge in `interest` (and whether it says that direction is closed for good)
    /// and takes the waiter to wake, if any.
    mutating func becomeReady(_ interest: Interest, closed: Bool) -> Waiter? {
        if interest == .read {
            readable = true
            readClosed = readClosed || closed
        } else {
            writable = true
            writeClosed = writeClosed || closed
        }
        let waiter = self[waiter: interest]
        self[waiter: interest] = nil
        return waiter
    }
}

/// I/O sources indexed by file descriptor, each stamped with a registration generation.
///
/// The generation travels in epoll_data beside the fd, and in every `IOHandle`, so an
/// event or a handle that outlived its registration (the fd number was closed and reused) is
/// recognised and ignored. The table lives in one contiguous allocation that grows to the
/// highest fd seen; it is touched only on the reactor's thread.
struct IOSourceTable {
    private var slots: UnsafeMutablePointer<IOSource>
    private var capacity: Int
    private var lastGeneration: UInt32 = 0
    /// How many registrations are live.
    private(set) var count = 0

    init() {
        capacity = 64
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: IOSource(), count: capacity)
    }

    func deallocate() {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Claims the slot for a newly opened fd, ready in both directions until a syscall says
    /// otherwise, and returns the registration's generation.
    ///
    /// A slot still held by an older registration means its fd was closed behind the
    /// reactor's back and reused: that registration's waiters are returned, to be told.
    mutating func register(fd: Int32, isStream: Bool, isWatched: Bool = false) -> (generation: UInt32, stranded: (reader: Waiter?, writer: Waiter?)) {
        precondition(fd >= 0, "registering fd \(fd)")
        if Int(fd) >= capacity { grow(toHold: Int(fd)) }
        let stranded = (slots[Int(fd)].reader, slots[Int(fd)].writer)
        if slots[Int(fd)].generation == 0 { count += 1 }
        lastGeneration = lastGeneration == .max ? 1 : lastGeneration + 1
        slots[Int(fd)] = IOSource(generation: lastGeneration, isStream: isStream, isWatched: isWatched, readable: true, writable: true)
        return (lastGeneration, stranded)
    }

    /// The slot of a live registration, or nil when that registration was closed.
    /// The pointer is valid until the next `register` (which may move the table).
    @inline(__always)
    func source(fd: Int32, generation: UInt32) -> UnsafeMutablePointer<IOSource>? {
        guard fd >= 0, Int(fd) < capacity, slots[Int(fd)].generation == generation else {
            return nil
        }
        return slots + Int(fd)
    }

    /// Frees a registration's slot and returns its waiters, who must be told.
    mutating func unregister(fd: Int32, generation: UInt32) -> (reader: Waiter?, writer: Waiter?)? {
        guard let slot = source(fd: fd, generation: generation) else { return nil }
        let waiters = (slot.pointee.reader, slot.pointee.writer)
        slot.pointee = IOSource()
        count -= 1
        return waiters
    }

    /// Whether `fd` has a live registration.
    func isRegistered(fd: Int32) -> Bool {
        fd >= 0 && Int(fd) < capacity && slots[Int(fd)].generation != 0
    }

    /// The tasks parked on a handle, with its fd and the direction they wait in.
    var parkedWaits: [(fd: Int32, interest: Interest, waiter: Waiter)] {
        var waits: [(fd: Int32, interest: Interest, waiter: Waiter)] = []
        for index in 0..<capacity where slots[index].generation != 0 {
            if let reader = slots[index].reader { waits.append((Int32(index), .read, reader)) }
            if let writer = slots[index].writer { waits.append((Int32(index), .write, writer)) }
        }
        return waits
    }

    /// The registrations still open, as (fd, generation).
    var openRegistrations: [(fd: Int32, generation: UInt32)] {
        (0..<capacity).compactMap { index in
            slots[index].generation == 0 ? nil : (Int32(index), slots[index].generation)
        }
    }

    private mutating func grow(toHold fd: Int) {
        slots = .grownTable(slots, capacity: &capacity, toHold: fd, empty: IOSource())
    }
}

extension UnsafeMutablePointer {
    /// A table indexed by fd (the sources; io_uring's receivers) grown to hold `index`: its
    /// capacity doubles until it does, the new slots hold `empty`, and the old memory is freed.
    static func grownTable(_ table: UnsafeMutablePointer, capacity: inout Int, toHold index: Int, empty: Pointee) -> UnsafeMutablePointer {
        var newCapacity = capacity
        while newCapacity <= index { newCapacity *= 2 }
        let grown = UnsafeMutablePointer.allocate(capacity: newCapacity)
        grown.moveInitialize(from: table, count: capacity)
        (grown + capacity).initialize(repeating: empty, count: newCapacity - capacity)
        table.deallocate()
        capacity = newCapacity
        return grown
    }
}
