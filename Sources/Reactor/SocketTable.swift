/// The direction a task waits in.
enum Interest {
    case read, write
}

/// How a parked task was woken.
enum WaitOutcome {
    case ready, cancelled, closed
}

/// A task parked on a socket, and the number that tells its wait apart from later ones.
struct Waiter {
    let continuation: UnsafeContinuation<WaitOutcome, Never>
    let id: UInt64
}

/// The reactor's state for one registered socket (ARCHITECTURE.md, decision 3).
///
/// Readiness is remembered: an edge that arrives while nobody waits sets the flag, and a
/// waiter parks only after a syscall said EAGAIN (or a short transfer showed the kernel
/// buffer empty or full). At most one reader and one writer wait.
///
/// The "closed" flags are sticky, as Tokio's READ_CLOSED is: once the peer's FIN (RDHUP) or a
/// hang-up or error (HUP, ERR) was seen, no more edges will come, so a short read must not
/// clear that readiness: the next recv returns 0 or the error at once.
struct SocketSlot {
    /// 0 while no socket holds this slot; otherwise the registration's generation.
    var generation: UInt32 = 0
    /// SOCK_STREAM: a short read means the kernel buffer is empty (not so for datagrams).
    var isStream = true
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

/// Slots indexed by file descriptor, each stamped with a registration generation.
///
/// The generation travels in epoll_data beside the fd, and in every `Socket` handle, so an
/// event or a handle that outlived its registration (the fd number was closed and reused) is
/// recognised and ignored. The table lives in one contiguous allocation that grows to the
/// highest fd seen; it is touched only on the reactor's thread.
struct SocketTable {
    private var slots: UnsafeMutablePointer<SocketSlot>
    private var capacity: Int
    private var lastGeneration: UInt32 = 0

    init() {
        capacity = 64
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: SocketSlot(), count: capacity)
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
    mutating func register(fd: Int32, isStream: Bool) -> (generation: UInt32, stranded: (reader: Waiter?, writer: Waiter?)) {
        if Int(fd) >= capacity { grow(toHold: Int(fd)) }
        let stranded = (slots[Int(fd)].reader, slots[Int(fd)].writer)
        lastGeneration = lastGeneration == .max ? 1 : lastGeneration + 1
        slots[Int(fd)] = SocketSlot(generation: lastGeneration, isStream: isStream, readable: true, writable: true)
        return (lastGeneration, stranded)
    }

    /// The slot of a live registration, or nil when that registration was closed.
    /// The pointer is valid until the next `register` (which may move the table).
    @inline(__always)
    func slot(fd: Int32, generation: UInt32) -> UnsafeMutablePointer<SocketSlot>? {
        guard fd >= 0, Int(fd) < capacity, slots[Int(fd)].generation == generation else {
            return nil
        }
        return slots + Int(fd)
    }

    /// Frees a registration's slot and returns its waiters, who must be told.
    mutating func unregister(fd: Int32, generation: UInt32) -> (reader: Waiter?, writer: Waiter?)? {
        guard let slot = slot(fd: fd, generation: generation) else { return nil }
        let waiters = (slot.pointee.reader, slot.pointee.writer)
        slot.pointee = SocketSlot()
        return waiters
    }

    /// The registrations still open, as (fd, generation).
    var openRegistrations: [(fd: Int32, generation: UInt32)] {
        (0..<capacity).compactMap { index in
            slots[index].generation == 0 ? nil : (Int32(index), slots[index].generation)
        }
    }

    private mutating func grow(toHold fd: Int) {
        var newCapacity = capacity
        while newCapacity <= fd { newCapacity *= 2 }
        let newSlots = UnsafeMutablePointer<SocketSlot>.allocate(capacity: newCapacity)
        newSlots.moveInitialize(from: slots, count: capacity)
        (newSlots + capacity).initialize(repeating: SocketSlot(), count: newCapacity - capacity)
        slots.deallocate()
        slots = newSlots
        capacity = newCapacity
    }
}
