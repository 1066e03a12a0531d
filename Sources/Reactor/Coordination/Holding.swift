/// The scoped forms (`Lock.withLock`, `Semaphore.withPermit`, asyncio's `async with`): runs
/// `body`, which holds what was just acquired, and releases it however `body` ends. A
/// `release` that fails after `body` threw is dropped: `body`'s error is the one to report.
@inlinable
nonisolated(nonsending) func holding<T>(
    release: () throws -> Void, _ body: nonisolated(nonsending) () async throws -> T
) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        try? release()
        throw error
    }
    try release()
    return result
}
