import CReactor
import Glibc
import Reactor

/// The bytes a `StreamReader` received but nobody has read yet.
///
/// A read index and a write index over one piece of memory: bytes are appended at the end and
/// consumed from the front; consumed space is reclaimed by compaction (moving the unread
/// bytes to the start) when the space at the end runs short, never by removing from the front
/// of an array.
///
/// The memory is the reactor's receive scratch while the buffer would otherwise be empty
/// (`borrow`), and its own allocation only while bytes stay buffered across a wait or past a
/// read (`settle`): an idle reader holds none, and a reader whose reads take all that
/// arrived allocates none. Its own allocation grows by doubling.
struct StreamBuffer: ~Copyable {
    private var storage: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    private var readIndex = 0
    private var writeIndex = 0
    /// True while `storage` is the reactor's receive scratch.
    private var isBorrowed = false

    init() {}

    deinit { if !isBorrowed { free(storage) } }

    /// True when the buffer has no memory: `borrow` may give it some.
    var hasNoStorage: Bool { storage == nil }

    /// Receives into `scratch` until `settle`. Only while the buffer has no memory.
    mutating func borrow(_ scratch: UnsafeMutableRawBufferPointer) {
        assert(storage == nil, "a stream buffer borrows only while it has no memory")
        storage = scratch.baseAddress
        capacity = scratch.count
        isBorrowed = true
    }

    /// Gives the memory up when nothing is buffered, and copies what is buffered out of a
    /// borrowed scratch into memory of its own: before every wait and at the end of every read.
    @inline(__always)
    mutating func settle() {
        guard storage != nil, isBorrowed || readIndex == writeIndex else { return }
        settleSlowly()
    }

    private mutating func settleSlowly() {
        if readIndex == writeIndex {
            if !isBorrowed { free(storage) }
            storage = nil
            capacity = 0
            readIndex = 0
            writeIndex = 0
        } else {
            moveToOwnMemory(capacity: max(count, 1024))
        }
        isBorrowed = false
    }

    var count: Int { writeIndex - readIndex }
    var isEmpty: Bool { readIndex == writeIndex }

    /// The unread bytes. Valid until the buffer is next changed.
    var unread: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.map { $0 + readIndex }, count: count)
    }

    /// Free space at the end for at least `minimum` bytes, compacting or growing as needed.
    /// Valid until the buffer is next changed; report what was written with `didAppend`.
    mutating func freeSpace(atLeast minimum: Int) -> UnsafeMutableRawBufferPointer {
        if capacity - writeIndex < minimum {
            if readIndex > 0 { compact() }
            if capacity - writeIndex < minimum { grow(toHold: writeIndex + minimum) }
        }
        return UnsafeMutableRawBufferPointer(start: storage! + writeIndex, count: capacity - writeIndex)
    }

    mutating func didAppend(_ count: Int) {
        writeIndex += count
    }

    /// Removes and returns the first `count` unread bytes, in an array `reactor` makes.
    /// Inlined into the reads, each of which takes once per message.
    @inline(__always)
    mutating func take(_ count: Int, on reactor: Reactor) -> [UInt8] {
        let bytes = reactor.array(copying: UnsafeRawBufferPointer(start: storage.map { $0 + readIndex }, count: Swift.min(count, self.count)))
        discard(count)
        return bytes
    }

    /// Drops the first `count` unread bytes.
    mutating func discard(_ count: Int) {
        readIndex += count
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
        }
    }

    mutating func removeAll() {
        readIndex = 0
        writeIndex = 0
    }

    /// Where `pattern` first starts among the unread bytes at or after `offset`, if anywhere.
    func firstIndex(of pattern: [UInt8], from offset: Int) -> Int? {
        let haystack = unread
        guard offset < haystack.count, !pattern.isEmpty else { return nil }
        let found: UnsafeMutableRawPointer? = pattern.withUnsafeBytes { needle in
            if needle.count == 1 {
                return memchr(haystack.baseAddress! + offset, Int32(needle[0]), haystack.count - offset)
            }
            return cr_memmem(haystack.baseAddress! + offset, haystack.count - offset, needle.baseAddress!, needle.count)
        }
        return found.map { UnsafeRawPointer($0) - haystack.baseAddress! }
    }

    private mutating func compact() {
        memmove(storage!, storage! + readIndex, count)
        writeIndex -= readIndex
        readIndex = 0
    }

    private mutating func grow(toHold needed: Int) {
        var newCapacity = max(capacity, 1024)
        while newCapacity < needed { newCapacity *= 2 }
        if isBorrowed {
            moveToOwnMemory(capacity: newCapacity)
            isBorrowed = false
        } else {
            storage = realloc(storage, newCapacity)
            precondition(storage != nil, "out of memory growing a stream buffer to \(newCapacity) bytes")
            capacity = newCapacity
        }
    }

    /// Copies the unread bytes to the start of a new allocation of `newCapacity` bytes; the
    /// caller clears `isBorrowed`.
    private mutating func moveToOwnMemory(capacity newCapacity: Int) {
        let own = malloc(newCapacity)
        precondition(own != nil, "out of memory growing a stream buffer to \(newCapacity) bytes")
        memcpy(own!, storage! + readIndex, count)
        writeIndex = count
        readIndex = 0
        storage = own
        capacity = newCapacity
    }
}
