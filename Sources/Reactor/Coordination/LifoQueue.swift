/// asyncio's `LifoQueue`: a ``Queue`` whose `get()` takes the item put last.
public final class LifoQueue<Element: Sendable>: Queue<Element>, @unchecked Sendable {
    /// A queue of at most `maxSize` items (0: unbounded) on `reactor`, by default the one whose
    /// loop runs on this thread.
    public init(maxSize: Int = 0, on reactor: Reactor? = nil) {
        super.init(maxSize: maxSize, on: reactor, discipline: .lastIn)
    }
}
