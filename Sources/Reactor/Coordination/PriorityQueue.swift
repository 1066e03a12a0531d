/// asyncio's `PriorityQueue`: a ``Queue`` whose `get()` takes the smallest item, by `<` for a
/// `Comparable` element or by the order given (for instance on a priority key).
///
/// ```swift
/// let work = PriorityQueue<Job>(by: { $0.priority < $1.priority })
/// ```
///
/// A binary heap, as Python's `heapq`: items that compare equal come out in no set order.
public final class PriorityQueue<Element: Sendable>: Queue<Element>, @unchecked Sendable {
    private let areInIncreasingOrder: @Sendable (Element, Element) -> Bool

    /// A queue of at most `maxSize` items (0: unbounded) that takes the smallest first by
    /// `areInIncreasingOrder`, on `reactor`, by default the one whose loop runs on this thread.
    public init(
        maxSize: Int = 0, reactor: Reactor? = nil, by areInIncreasingOrder: @escaping @Sendable (Element, Element) -> Bool
    ) {
        self.areInIncreasingOrder = areInIncreasingOrder
        super.init(maxSize: maxSize, reactor: reactor)
    }

    override func insert(_ item: Element) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard areInIncreasingOrder(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    override func removeNext() -> Element {
        items.swapAt(0, items.count - 1)
        let smallest = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { break }
            let right = left + 1
            let child = right < items.count && areInIncreasingOrder(items[right], items[left]) ? right : left
            guard areInIncreasingOrder(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            parent = child
        }
        return smallest
    }
}

extension PriorityQueue where Element: Comparable {
    /// A queue of at most `maxSize` items (0: unbounded) that takes the smallest first, on
    /// `reactor`, by default the one whose loop runs on this thread.
    public convenience init(maxSize: Int = 0, reactor: Reactor? = nil) {
        self.init(maxSize: maxSize, reactor: reactor, by: { $0 < $1 })
    }
}
