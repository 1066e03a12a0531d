/// Names one timer on a reactor. A handle whose timer fired or was cancelled is stale: using it
/// again does nothing, even after its slot holds another timer (the generation differs).
public struct TimerHandle: Sendable, Hashable {
    let slot: Int32
    let generation: UInt32
}

/// What happens when a timer fires.
enum TimerAction {
    /// A task parked in `sleep(for:)`.
    case resume(UnsafeContinuation<WaitOutcome, Never>)
    /// A callback scheduled with `callLater`.
    case callback(() -> Void)
    /// A deadline over a run of waits (`WaitDeadline`).
    case expire(WaitDeadline)
}

/// The reactor's timers: a binary min-heap of slots ordered by (deadline, insertion order).
///
/// Slots live in a slab and know their heap position, so cancelling is O(log n) and leaves
/// nothing behind; slots are reused, so a steady state of schedule/cancel allocates nothing.
/// Equal deadlines fire in the order they were scheduled.
struct TimerHeap {
    private struct Slot {
        var generation: UInt32 = 1
        /// Position in `heap`, or -1 when the slot is free or reserved but not scheduled.
        var heapIndex = -1
        var deadline: Int64 = 0
        var sequence: UInt64 = 0
        var action: TimerAction?
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    private var heap: [Int32] = []
    private var nextSequence: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    /// The earliest deadline, in monotonic nanoseconds.
    var nextDeadline: Int64? { heap.first.map { slots[Int($0)].deadline } }

    /// Takes a slot for a timer whose action is not known yet (see `Reactor.sleep(for:)`).
    mutating func reserve() -> TimerHandle {
        let index: Int32
        if let free = freeSlots.popLast() {
            index = free
        } else {
            index = Int32(slots.count)
            slots.append(Slot())
        }
        return TimerHandle(slot: index, generation: slots[Int(index)].generation)
    }

    /// Schedules a reserved timer. Returns false when the handle was cancelled meanwhile.
    @discardableResult
    mutating func schedule(_ handle: TimerHandle, at deadline: Int64, _ action: TimerAction) -> Bool {
        let index = Int(handle.slot)
        guard slots[index].generation == handle.generation, slots[index].heapIndex < 0 else {
            return false
        }
        slots[index].deadline = deadline
        slots[index].sequence = nextSequence
        slots[index].action = action
        nextSequence &+= 1
        slots[index].heapIndex = heap.count
        heap.append(handle.slot)
        siftUp(heap.count - 1)
        return true
    }

    mutating func schedule(at deadline: Int64, _ action: TimerAction) -> TimerHandle {
        let handle = reserve()
        schedule(handle, at: deadline, action)
        return handle
    }

    /// Removes a timer, scheduled or only reserved, and returns its action if it had one.
    mutating func cancel(_ handle: TimerHandle) -> TimerAction? {
        let index = Int(handle.slot)
        guard index < slots.count, slots[index].generation == handle.generation else { return nil }
        let position = slots[index].heapIndex
        if position >= 0 { removeFromHeap(at: position) }
        return release(index)
    }

    /// Removes and returns the earliest timer's action if its deadline is at or before `now`.
    mutating func popExpired(now: Int64) -> TimerAction? {
        guard let first = heap.first, slots[Int(first)].deadline <= now else { return nil }
        removeFromHeap(at: 0)
        return release(Int(first))
    }

    /// The tasks parked in `sleep(for:)`: each one's timer, task and deadline.
    var sleepers: [(timer: TimerHandle, task: UInt, deadline: Int64)] {
        heap.compactMap { index in
            guard case .resume(let continuation) = slots[Int(index)].action else { return nil }
            let timer = TimerHandle(slot: index, generation: slots[Int(index)].generation)
            return (timer, unsafeBitCast(continuation, to: UInt.self), slots[Int(index)].deadline)
        }
    }

    /// Removes every timer and returns their actions, earliest first.
    mutating func removeAll() -> [TimerAction] {
        var actions: [TimerAction] = []
        while let first = heap.first {
            removeFromHeap(at: 0)
            if let action = release(Int(first)) { actions.append(action) }
        }
        return actions
    }

    // MARK: - Heap plumbing

    private mutating func release(_ index: Int) -> TimerAction? {
        let action = slots[index].action
        slots[index].action = nil
        slots[index].heapIndex = -1
        slots[index].generation = slots[index].generation == .max ? 1 : slots[index].generation + 1
        freeSlots.append(Int32(index))
        return action
    }

    private mutating func removeFromHeap(at position: Int) {
        let last = heap.count - 1
        if position != last {
            swapAt(position, last)
        }
        slots[Int(heap[last])].heapIndex = -1
        heap.removeLast()
        if position < heap.count {
            siftDown(position)
            siftUp(position)
        }
    }

    private func isEarlier(_ a: Int, _ b: Int) -> Bool {
        let lhs = slots[Int(heap[a])], rhs = slots[Int(heap[b])]
        return lhs.deadline != rhs.deadline ? lhs.deadline < rhs.deadline : lhs.sequence < rhs.sequence
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        slots[Int(heap[a])].heapIndex = a
        slots[Int(heap[b])].heapIndex = b
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard isEarlier(child, parent) else { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var earliest = parent
            if left < heap.count, isEarlier(left, earliest) { earliest = left }
            if right < heap.count, isEarlier(right, earliest) { earliest = right }
            guard earliest != parent else { return }
            swapAt(parent, earliest)
            parent = earliest
        }
    }
}
