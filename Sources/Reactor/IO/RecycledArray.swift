extension Reactor {
    /// `bytes` as an array of their own, made in the storage of the last array made here once
    /// nothing else holds that one: a reader that hands out a message per read, dropped before
    /// the next, allocates no array per message. The storage is reused only for at least half
    /// its capacity, so an array kept by its caller holds at most twice its bytes, and an
    /// array past `recycledArrayLimit` is not kept. Loop thread only.
    @inlinable
    package func array(copying bytes: UnsafeRawBufferPointer) -> [UInt8] {
        assert(isOnLoopThread, "array(copying:) is for the loop thread")
        let capacity = recycledArray.capacity
        if bytes.count <= capacity && bytes.count >= capacity / 2 && recycledArrayIsUnique {
            if recycledArray.count == bytes.count {
                recycledArray.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
            } else {
                recycledArray.removeAll(keepingCapacity: true)
                recycledArray.append(contentsOf: bytes)
            }
            return recycledArray
        }
        let array = [UInt8](bytes)
        recycledArray = array.capacity <= Self.recycledArrayLimit ? array : []
        return array
    }

    /// The most bytes the reactor keeps in a recycled array once nothing else holds it.
    @inlinable
    static var recycledArrayLimit: Int { 64 * 1024 }

    /// Whether the reactor holds the only reference to the recycled array's storage. An array
    /// of bytes is one reference to its storage (an empty one to a shared, immortal one, which
    /// is never unique); asked in place, as a copy would hold a second. Through a concrete
    /// class: an `AnyObject` would be opened into a copy first.
    @inlinable
    var recycledArrayIsUnique: Bool {
        withUnsafeMutablePointer(to: &recycledArray) { array in
            UnsafeMutableRawPointer(array).withMemoryRebound(to: NativeObject.self, capacity: 1) { isKnownUniquelyReferenced(&$0.pointee) }
        }
    }
}

/// A native Swift object seen only through its header, where its reference count is.
@usableFromInline
final class NativeObject {}
