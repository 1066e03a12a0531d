/// asyncio's `LifoQueue`: a ``Queue`` whose `get()` takes the item put last.
public final class LifoQueue<Element: Sendable>: Queue<Element>, @unchecked Sendable {
    override func removeNext() -> Element { items.removeLast() }
}
