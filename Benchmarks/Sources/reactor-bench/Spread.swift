/// A figure over repetitions: its median and its extremes.
struct Spread: Codable, Sendable {
    let median: Double
    let min: Double
    let max: Double

    /// Nil for no values. Of an even count, the upper of the two middle values is the median.
    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        median = sorted[sorted.count / 2]
        min = sorted[0]
        max = sorted[sorted.count - 1]
    }

    /// (max - min) / median: how far apart the repetitions came out.
    var relative: Double { median > 0 ? (max - min) / median : 0 }

    /// The ratio of one server's figure to another's within each repetition, over the
    /// repetitions: the servers of a repetition run back to back, so these ratios are what
    /// tells a difference from the machine's drift. `runs` and `base` are in repetition order.
    static func ratios(_ runs: [Measurement], to base: [Measurement]?, _ key: KeyPath<Measurement, Double>) -> Spread? {
        guard let base else { return nil }
        return Spread(zip(runs, base).compactMap { run, base in
            base[keyPath: key] > 0 ? run[keyPath: key] / base[keyPath: key] : nil
        })
    }
}
