/// The loop's ready work, first in first out: a ring buffer that only the loop thread touches.
/// Not a `Deque`, whose every append checks that its storage is unique and goes through a
/// closure: the loop appends and takes at least once per message.
struct ReadyQueue: ~Copyable {
    /// Room for `capacity` items, a power of two; the items run from `head`, wrapping.
    private var storage: UnsafeMutablePointer<ReadyWork>
    private var capacity: Int
    private var head = 0
    private(set) var count = 0

    init() {
        capacity = 64
        storage = .allocate(capacity: capacity)
    }

    deinit {
        let beforeWrap = min(count, capacity - head)
        (storage + head).deinitialize(count: beforeWrap)
        storage.deinitialize(count: count - beforeWrap)
        storage.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    mutating func append(_ work: ReadyWork) {
        if count == capacity { grow() }
        (storage + ((head + count) & (capacity - 1))).initialize(to: work)
        count += 1
    }

    mutating func append(contentsOf works: [ReadyWork]) {
        for work in works { append(work) }
    }

    @inline(__always)
    mutating func popFirst() -> ReadyWork? {
        guard count > 0 else { return nil }
        let work = (storage + head).move()
        head = (head + 1) & (capacity - 1)
        count -= 1
        return work
    }

    /// Doubles the room, the items moved to its start in order.
    private mutating func grow() {
        let larger = UnsafeMutablePointer<ReadyWork>.allocate(capacity: capacity * 2)
        let beforeWrap = min(count, capacity - head)
        larger.moveInitialize(from: storage + head, count: beforeWrap)
        (larger + beforeWrap).moveInitialize(from: storage, count: count - beforeWrap)
        storage.deallocate()
        storage = larger
        capacity *= 2
        head = 0
    }
}
