/// asyncio's `BoundedSemaphore`: a ``Semaphore`` whose `release()` throws
/// ``ReactorError`` (`.invalidState`) rather than raise the count above its initial value.
public final class BoundedSemaphore: Semaphore, @unchecked Sendable {
    /// A semaphore with `value` permits, never more, on `reactor`, by default the one whose
    /// loop runs on this thread. Throws ``ReactorError`` (`.invalidArgument`) for a negative
    /// value.
    public init(value: Int = 1, on reactor: Reactor? = nil) throws {
        try super.init(value: value, bound: value, on: reactor, name: "BoundedSemaphore")
    }
}
