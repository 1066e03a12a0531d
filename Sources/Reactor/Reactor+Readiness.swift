extension Reactor {
    /// Parks the calling task (on the loop thread) until `socket` becomes ready for `interest`.
    ///
    /// Throws `SocketError` (EBADF) when the socket is or gets closed, `SocketError` (EBUSY)
    /// when another task already waits in that direction, and `CancellationError` when the
    /// task is cancelled; in that case the waiter is removed and the socket stays usable.
    nonisolated(nonsending) func waitUntilReady(_ socket: Socket, for interest: Interest, _ operation: String) async throws {
        guard let slot = sockets.slot(fd: socket.fd, generation: socket.generation) else {
            throw SocketError.closed(operation, fd: socket.fd)
        }
        if slot.pointee.isReady(interest) { return }
        if slot.pointee[waiter: interest] != nil {
            throw SocketError.busy(operation, fd: socket.fd, direction: interest == .read ? "read from" : "write to")
        }
        let id = nextWaiterID()
        let outcome = await parkCancellably {
            self.onLoopThread {
                self.cancelWait(fd: socket.fd, generation: socket.generation, interest: interest, id: id)
            }
        } park: { (continuation: UnsafeContinuation<WaitOutcome, Never>) in
            if Task.isCancelled {
                continuation.resume(returning: .cancelled)
            } else {
                // Nothing ran since the check above: the slot is still this socket's.
                slot.pointee[waiter: interest] = Waiter(continuation: continuation, id: id)
            }
        }
        // Every operation runs on the loop thread, and so must its continuation: resuming
        // anywhere else would race on the loop's state (see `hop`).
        precondition(inLoopThread, "a wait on socket fd \(socket.fd) resumed off its reactor's thread")
        switch outcome {
        case .ready:
            // A job that ran between the wake-up and now may have closed the socket (and its
            // fd number may be someone else's by now).
            guard sockets.slot(fd: socket.fd, generation: socket.generation) != nil else {
                throw SocketError.closed(operation, fd: socket.fd)
            }
        case .cancelled: throw CancellationError()
        case .closed: throw SocketError.closed(operation, fd: socket.fd)
        }
    }

    /// Resumes a parked waiter with `.cancelled`, if it is still the one that was cancelled.
    private func cancelWait(fd: Int32, generation: UInt32, interest: Interest, id: UInt64) {
        guard let slot = sockets.slot(fd: fd, generation: generation),
            let waiter = slot.pointee[waiter: interest], waiter.id == id
        else { return }
        slot.pointee[waiter: interest] = nil
        waiter.continuation.resume(returning: .cancelled)
    }

    /// Counts one completed operation against the running job's budget, and yields the loop
    /// once the budget is spent, so a socket that never says EAGAIN cannot starve the others.
    /// Protocols that loop over `tryRecv` / `trySend` call it once per operation, as the
    /// `sock*` operations do. Loop thread only.
    @inline(__always)
    public nonisolated(nonsending) func consumeBudget() async {
        if budget > 0 {
            budget -= 1
        } else {
            await Task.yield()
        }
    }
}
