/// asyncio's `QueueFull`: `putNowait` found the queue full.
public struct QueueFull: Error, Equatable, CustomStringConvertible {
    @inlinable public init() {}
    public var description: String { "the queue is full" }
}

/// asyncio's `QueueEmpty`: `getNowait` found the queue empty.
public struct QueueEmpty: Error, Equatable, CustomStringConvertible {
    @inlinable public init() {}
    public var description: String { "the queue is empty" }
}

/// asyncio's `QueueShutDown` (Python 3.13): the queue was shut down, so `put` fails, and so
/// does `get` once the queue is empty.
public struct QueueShutDown: Error, Equatable, CustomStringConvertible {
    @inlinable public init() {}
    public var description: String { "the queue is shut down" }
}
