import Foundation

/// The tables: one per scenario, a row per server, with ratios to the C floor and to SwiftNIO
/// (its handler echo) from the same run. Figures are medians over repetitions, each with its
/// spread; the ratios are taken within each repetition, then summarised.
enum Report {
    static let floor = "c-floor"
    static let nio = "nio-handler"

    static let legend = """
        Medians over repetitions; spread: (max - min) / median; srv µs/msg: the server's CPU time per message;
        vs C, µs/msg vs C: the ratio to c-floor within each repetition, median (min-max); vs NIO: likewise, median.
        """

    /// `rows` hold each server's runs in repetition order.
    static func table(_ scenario: Scenario, _ rows: [(ServerKind, [Measurement])], repetitions: Int, duration: Double) -> String {
        let floorRuns = rows.first { $0.0.name == floor }?.1
        let nioRuns = rows.first { $0.0.name == nio }?.1
        let isStream = scenario.streamBytes != nil
        let seconds = duration == duration.rounded() ? "\(Int(duration))" : "\(duration)"
        let length = isStream ? "streams for \(seconds) s each" : "\(seconds) s each"
        var lines = ["\(scenario.title) (\(repetitions) repetitions, \(length))"]
        // A stream is compared by MB/s, and has no per-message latency; the other rate follows
        // from the one shown and the message size (--json has both).
        let rate = scenario.rate
        let header = ["server", isStream ? "MB/s" : "msgs/s", "spread", "p50 µs", "p99 µs", "srv µs/msg", "spread",
                      "load CPU%", "vs C", "µs/msg vs C", "vs NIO"]
        var cells = [header]
        for (kind, runs) in rows {
            let m = Measurement.summary(runs, \.median)
            let rates = Spread(runs.map { $0[keyPath: rate] })
            let cpu = Spread(runs.map(\.serverMicrosecondsPerMessage))
            cells.append([
                kind.name, isStream ? format(m.megabytesPerSecond, 1) : grouped(m.messagesPerSecond), spread(rates, of: runs.count),
                isStream ? "-" : format(m.p50Microseconds, 1), isStream ? "-" : format(m.p99Microseconds, 1),
                format(m.serverMicrosecondsPerMessage, 2), spread(cpu, of: runs.count), format(m.clientCPUPercent, 0),
                ratios(Spread.ratios(runs, to: floorRuns, rate), of: runs.count),
                ratios(Spread.ratios(runs, to: floorRuns, \.serverMicrosecondsPerMessage), of: runs.count),
                Spread.ratios(runs, to: nioRuns, rate).map { times($0.median) } ?? "-",
            ])
        }
        lines += render(cells)
        return lines.joined(separator: "\n")
    }

    /// "4.2%"; "-" for a single repetition.
    static func spread(_ values: Spread?, of runs: Int) -> String {
        guard let values, runs > 1 else { return "-" }
        return format(values.relative * 100, 1) + "%"
    }

    /// "0.94x (0.90-0.97)": the median ratio and its range over repetitions; "0.94x" for one.
    static func ratios(_ values: Spread?, of runs: Int) -> String {
        guard let values else { return "-" }
        let median = times(values.median)
        return runs > 1 ? "\(median) (\(format(values.min, 2))-\(format(values.max, 2)))" : median
    }

    /// Aligns a table: the first row is the header, the first column is left-aligned.
    static func render(_ cells: [[String]]) -> [String] {
        let widths = cells[0].indices.map { column in cells.map { $0[column].count }.max()! }
        var lines: [String] = []
        for (index, row) in cells.enumerated() {
            let line = row.enumerated().map { column, cell in
                column == 0 ? cell.padding(toLength: widths[0], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
            lines.append("  " + line)
            if index == 0 { lines.append("  " + String(repeating: "-", count: line.count)) }
        }
        return lines
    }

    static func ratio(_ value: Double, _ base: Double?) -> String {
        guard let base, base > 0 else { return "-" }
        return times(value / base)
    }

    static func times(_ ratio: Double) -> String {
        format(ratio, 2) + "x"
    }

    static func format(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    static func grouped(_ value: Double) -> String {
        let digits = String(Int(value.rounded()))
        var out = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return String(out.reversed())
    }
}
