/// The timing loop of the workload executables (coordination-bench, subprocess-bench): each
/// prints `<operations> <seconds>` for reactor-bench to turn into a rate.
///
/// Runs `batch` for a warm-up of a fifth of `seconds`, then again, with round counts that
/// double from `firstRounds` up to `maxRounds`, until `seconds` have passed; returns the
/// operations done after the warm-up and the time they took.
public func measure(
    for seconds: Double, firstRounds: Int = 1_000, maxRounds: Int = 100_000,
    _ batch: (Int) async throws -> Int
) async throws -> (operations: Int, seconds: Double) {
    let clock = ContinuousClock()
    var rounds = firstRounds
    let warmupEnd = clock.now + .seconds(seconds / 5)
    while clock.now < warmupEnd { _ = try await batch(rounds) }
    let start = clock.now
    var operations = 0
    while true {
        operations += try await batch(rounds)
        let elapsed = clock.now - start
        if elapsed >= .seconds(seconds) {
            return (operations, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        rounds = min(rounds * 2, maxRounds)
    }
}
