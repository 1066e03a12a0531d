extension Reactor {
    /// `bytes` as an array of their own, made in the storage of the last array made here once
    /// nothing else holds that one: a reader that hands out a message per read, dropped before
    /// the next, allocates no array per message. The storage is reused only for between half
    /// and all of its capacity, so an array kept by its caller holds at most twice its bytes.
    /// Loop thread only.
    @inlinable
    package func array(copying bytes: UnsafeRawBufferPointer) -> [UInt8] {
        assert(isOnLoopThread, "array(copying:) is for the loop thread")
        if bytes.isEmpty { return [] }
        if recycledArrayFits(atLeast: bytes.count, atMost: bytes.count) {
            if recycledArray.count == bytes.count {
                recycledArray.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
            } else {
                recycledArray.removeAll(keepingCapacity: true)
                recycledArray.append(contentsOf: bytes)
            }
            return recycledArray
        }
        return recycle([UInt8](bytes))
    }

    /// An array of what `receive` writes into room for `capacity` bytes (it answers how many,
    /// or nil for none yet, and then there is no array): a bulk reader's receive straight into
    /// the array it returns. Made in the recycled storage as `array(copying:)` makes its
    /// arrays, when that has room for `capacity` bytes and at most twice as many; so an array
    /// holds room for a whole receive, and at most twice that, whatever arrived. Loop thread
    /// only.
    @inlinable
    package func array(receivingAtMost capacity: Int, _ receive: (UnsafeMutableRawBufferPointer) throws -> Int?) rethrows -> [UInt8]? {
        assert(isOnLoopThread, "array(receivingAtMost:) is for the loop thread")
        if recycledArrayFits(atLeast: capacity, atMost: capacity) {
            // Room for the receive is counted in the array first (zeros), and what was not
            // received into is cut off again.
            if recycledArray.count < capacity { recycledArray.append(contentsOf: repeatElement(0, count: capacity - recycledArray.count)) }
            let received = try recycledArray.withUnsafeMutableBytes { try receive(UnsafeMutableRawBufferPointer(rebasing: $0.prefix(capacity))) }
            guard let received else { return nil }
            if received == 0 { return [] }
            recycledArray.removeLast(recycledArray.count - received)
            return recycledArray
        }
        var received: Int?
        let array = try [UInt8](unsafeUninitializedCapacity: capacity) { space, initialized in
            received = try receive(UnsafeMutableRawBufferPointer(space))
            initialized = received ?? 0
        }
        guard let received else { return nil }
        return received == 0 ? [] : recycle(array)
    }

    /// The most bytes an array the reactor keeps to recycle may hold.
    @inlinable
    static var recycledArrayLimit: Int { 64 * 1024 }

    /// Whether the recycled array's storage is the reactor's alone and has room for at least
    /// `atMost` bytes, and at most twice `atLeast`.
    @inlinable
    func recycledArrayFits(atLeast: Int, atMost: Int) -> Bool {
        let capacity = recycledArray.capacity
        return capacity >= atMost && capacity / 2 <= atLeast && recycledArrayIsUnique
    }

    /// Keeps `array` to recycle, unless it has room for much more than `recycledArrayLimit`
    /// bytes: an eighth more is allowed, as malloc rounds the room of a full receive's array up.
    @inlinable
    func recycle(_ array: [UInt8]) -> [UInt8] {
        if array.capacity <= Self.recycledArrayLimit + Self.recycledArrayLimit / 8 { recycledArray = array }
        return array
    }

    /// Whether the reactor holds the only reference to the recycled array's storage. An array
    /// of bytes is one reference to its storage (an empty one to a shared, immortal one, which
    /// is never unique); asked in place, as a copy would hold a second. Through a concrete
    /// class: an `AnyObject` would be opened into a copy first.
    @inlinable
    var recycledArrayIsUnique: Bool {
        assert(MemoryLayout<[UInt8]>.size == MemoryLayout<NativeObject>.size, "an array is one reference to its storage")
        return withUnsafeMutablePointer(to: &recycledArray) { array in
            UnsafeMutableRawPointer(array).withMemoryRebound(to: NativeObject.self, capacity: 1) { isKnownUniquelyReferenced(&$0.pointee) }
        }
    }

    /// A native Swift object seen only through its header, where its reference count is.
    @usableFromInline
    final class NativeObject {}
}
