extension Reactor {
    /// Memory to receive into on the loop thread, shared by everything on this loop, of at
    /// least `minimum` bytes: a reader that has nothing buffered receives here and keeps only
    /// what it does not hand out at once, so an idle connection holds no receive buffer and a
    /// busy one allocates none (libuv's shared read buffer does the same).
    ///
    /// Valid until the caller next suspends, or next asks for it: whatever is left in it must be
    /// copied out before either. Loop thread only.
    ///
    /// Inlined: a call from another module would hold the reactor (retain and release it) for
    /// its duration, once per receive.
    @inlinable
    public func receiveScratch(atLeast minimum: Int) -> UnsafeMutableRawBufferPointer {
        assert(isOnLoopThread, "receiveScratch is for the loop thread")
        if receiveScratchMemory.count < minimum { growReceiveScratch(to: minimum) }
        return receiveScratchMemory
    }

    /// The first `count` bytes of the receive scratch, for one receive copied out at once.
    func receiveScratchPrefix(_ count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: receiveScratch(atLeast: max(count, 1)).prefix(count))
    }

    @usableFromInline
    func growReceiveScratch(to minimum: Int) {
        receiveScratchMemory.deallocate()
        receiveScratchMemory = .allocate(byteCount: minimum, alignment: 16)
    }
}
