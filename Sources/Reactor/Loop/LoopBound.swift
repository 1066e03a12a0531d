/// A value that belongs to one reactor's loop thread: state its tasks share without a lock,
/// such as a server's cache or keyspace (SwiftNIO's `NIOLoopBound`).
///
/// It is `Sendable`, so the `@Sendable` closures that start a reactor's tasks (a server's
/// connection handler) can capture it, but its value may only be read or changed on the
/// reactor's loop thread, outside any actor: that is where those tasks run, one at a time, so
/// no lock is needed. Each access checks the thread in debug builds (a mistake stops the
/// process with a clear message) and costs nothing in release builds.
///
/// ```swift
/// let cache = LoopBound([String: [UInt8]](), on: reactor)
/// let server = try await startServer(port: 11211) { reader, writer in
///     for try await line in reader.lines {
///         cache.value[line, default: []] += Array(line.utf8)   // on the loop thread: no lock
///     }
/// }
/// ```
public final class LoopBound<Value>: @unchecked Sendable {
    /// The reactor whose loop thread the value belongs to.
    public let reactor: Reactor
    @usableFromInline var storage: Value

    /// Makes `value` belong to `reactor`'s loop thread (or the current one's; made with
    /// neither, it stops the process, as a ``Lock`` does). Any thread may make it: the value is
    /// handed over, not shared.
    public init(_ value: Value, on reactor: Reactor? = nil) {
        self.reactor = Reactor.owner(reactor, of: "LoopBound()")
        storage = value
    }

    /// The value, on the reactor's loop thread only.
    @inlinable
    public var value: Value {
        _read {
            assert(reactor.isOnLoopThread, "a LoopBound value was read off its reactor's loop thread")
            yield storage
        }
        _modify {
            assert(reactor.isOnLoopThread, "a LoopBound value was changed off its reactor's loop thread")
            yield &storage
        }
    }
}
