extension Reactor {
    /// `bytes` as an array of their own, made in the storage of the last array made here once
    /// nothing else holds that one: a reader that hands out a message per read, dropped before
    /// the next, allocates no array per message. The storage is reused only for at least half
    /// its capacity, so an array kept by its caller holds at most twice its bytes, and one of
    /// more than `recycledArrayLimit` bytes is not kept. Loop thread only.
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
        recycledArray = bytes.count <= Self.recycledArrayLimit ? array : []
        return array
    }

    /// An array of what `receive` writes into room for `capacity` bytes (it answers how many,
    /// or nil for none yet, and then there is no array): a bulk reader's receive straight into
    /// the array it returns, in the recycled storage as `array(copying:)` makes its arrays, when
    /// that holds between `capacity` and twice as many bytes. Loop thread only.
    @inlinable
    package func array(receivingAtMost capacity: Int, _ receive: (UnsafeMutableRawBufferPointer) throws -> Int?) rethrows -> [UInt8]? {
        assert(isOnLoopThread, "array(receivingAtMost:) is for the loop thread")
        let kept = recycledArray.capacity
        if kept >= capacity && kept / 2 <= capacity && recycledArrayIsUnique {
            // The bytes past the last array's count only need to count as initialized: they are
            // received into, and what is not is cut off again. Copied from the receive scratch,
            // whatever it holds, as the fastest way to get there.
            let missing = capacity - recycledArray.count
            if missing > 0 { recycledArray.append(contentsOf: UnsafeRawBufferPointer(rebasing: receiveScratch(atLeast: missing).prefix(missing))) }
            let received = try recycledArray.withUnsafeMutableBytes { try receive(UnsafeMutableRawBufferPointer(rebasing: $0.prefix(capacity))) }
            guard let received else { return nil }
            recycledArray.removeLast(recycledArray.count - received)
            return recycledArray
        }
        var received: Int?
        let array = try [UInt8](unsafeUninitializedCapacity: capacity) { space, initialized in
            received = try receive(UnsafeMutableRawBufferPointer(space))
            initialized = received ?? 0
        }
        guard received != nil else { return nil }
        if capacity <= Self.recycledArrayLimit { recycledArray = array }
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
