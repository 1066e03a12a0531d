/// Tasks parked on a reactor's loop thread until something happens, such as "the queue is
/// drained" or "the stream is closed": `wait()` parks, `resumeAll(_:)` wakes every parked task
/// with a value. A cancelled task leaves at once with nil, its place removed.
///
/// Used on the loop thread only (hence unchecked Sendable); `wait()` hops there if needed.
public final class WaitQueue<Value: Sendable>: @unchecked Sendable {
    public let reactor: Reactor
    private var waiters: [(id: UInt64, continuation: UnsafeContinuation<Value?, Never>)] = []
    private var lastID: UInt64 = 0

    public init(reactor: Reactor) {
        self.reactor = reactor
    }

    /// How many tasks are parked.
    public var count: Int { waiters.count }

    /// Parks the calling task until `resumeAll`; nil if the task was cancelled, or the
    /// reactor shut down, before that.
    public nonisolated(nonsending) func wait() async -> Value? {
        guard reactor.runsInPlace(#isolation) else { return try? await reactor.hop(UnsafeTransfer { await self.wait() }) ?? nil }
        lastID &+= 1
        let id = lastID
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Value?, Never>) in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            self.reactor.onLoopThread { self.remove(id: id)?.resume(returning: nil) }
        }
    }

    /// Wakes every parked task with `value`.
    public func resumeAll(_ value: Value) {
        guard !waiters.isEmpty else { return }
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.continuation.resume(returning: value) }
    }

    private func remove(id: UInt64) -> UnsafeContinuation<Value?, Never>? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).continuation
    }

}
