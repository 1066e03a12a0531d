/// What a scoped form holds: a `Lock`, or a `Semaphore`'s permit.
@usableFromInline
protocol Holdable: AnyObject {
    /// Takes it at once when the caller runs in place and it is free; false otherwise.
    func takeInPlace(_ isolation: (any Actor)?) -> Bool
    nonisolated(nonsending) func acquire(file: StaticString, line: UInt) async throws
    func release() throws
}

/// The scoped forms (`Lock.withLock`, `Semaphore.withPermit`, asyncio's `async with`): takes
/// `held`, runs `body` and releases it however `body` ends.
///
/// The fast path is taken without an await, so the compiler knows `body` runs where this was
/// called and drops the hop it would otherwise make after `body` (an executor switch per
/// call). `held` is passed as an object, not as its `release` method, which as a closure would
/// retain it on every call.
@inlinable @inline(__always)
nonisolated(nonsending) func holding<T>(
    _ held: some Holdable, file: StaticString, line: UInt, _ body: nonisolated(nonsending) () async throws -> T
) async throws -> T {
    if held.takeInPlace(#isolation) { return try await running(body, thenReleasing: held) }
    try await held.acquire(file: file, line: line)
    return try await running(body, thenReleasing: held)
}

/// Runs `body` and releases `held` however it ends. A `release` that fails after `body` threw
/// is dropped: `body`'s error is the one to report.
@inlinable @inline(__always)
nonisolated(nonsending) func running<T>(
    _ body: nonisolated(nonsending) () async throws -> T, thenReleasing held: some Holdable
) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        try? held.release()
        throw error
    }
    try held.release()
    return result
}
