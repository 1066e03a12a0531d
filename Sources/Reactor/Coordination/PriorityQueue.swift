import DequeModule

/// asyncio's `PriorityQueue`: a ``Queue`` whose `get()` takes the smallest item, by `<` for a
/// `Comparable` element or by the order given (for instance on a priority key).
///
/// ```swift
/// let work = PriorityQueue<Job>(by: { $0.priority < $1.priority })
/// ```
///
/// A binary heap, as Python's `heapq`: items that compare equal come out in no set order.
public final class PriorityQueue<Element: Sendable>: Queue<Element>, @unchecked Sendable {
    /// A queue of at most `maxSize` items (0: unbounded) that takes the smallest first by
    /// `areInIncreasingOrder`, on `reactor`, by default the one whose loop runs on this thread.
    public init(
        maxSize: Int = 0, on reactor: Reactor? = nil, by areInIncreasingOrder: @escaping @Sendable (Element, Element) -> Bool
    ) {
        super.init(maxSize: maxSize, on: reactor, discipline: .smallest(areInIncreasingOrder))
    }
}

extension PriorityQueue where Element: Comparable {
    /// A queue of at most `maxSize` items (0: unbounded) that takes the smallest first, on
    /// `reactor`, by default the one whose loop runs on this thread.
    public convenience init(maxSize: Int = 0, on reactor: Reactor? = nil) {
        self.init(maxSize: maxSize, on: reactor, by: { $0 < $1 })
    }
}

/// The binary heap a ``PriorityQueue`` keeps its items in, smallest first.
extension Deque {
    @inlinable
    mutating func heapInsert(_ item: Element, by areInIncreasingOrder: (Element, Element) -> Bool) {
        append(item)
        var child = count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard areInIncreasingOrder(self[child], self[parent]) else { break }
            swapAt(child, parent)
            child = parent
        }
    }

    @inlinable
    mutating func heapRemoveFirst(by areInIncreasingOrder: (Element, Element) -> Bool) -> Element {
        swapAt(0, count - 1)
        let smallest = removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let child = right < count && areInIncreasingOrder(self[right], self[left]) ? right : left
            guard areInIncreasingOrder(self[child], self[parent]) else { break }
            swapAt(child, parent)
            parent = child
        }
        return smallest
    }
}
