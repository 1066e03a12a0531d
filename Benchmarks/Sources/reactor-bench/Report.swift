import Foundation

/// The tables: one per scenario, a row per server, with ratios to the C floor and to SwiftNIO
/// (its handler echo) from the same run.
enum Report {
    static let floor = "c-floor"
    static let nio = "nio-handler"

    static func table(_ scenario: Scenario, _ rows: [(ServerKind, Measurement)], repetitions: Int, duration: Double) -> String {
        let floorRow = rows.first { $0.0.name == floor }?.1
        let nioRow = rows.first { $0.0.name == nio }?.1
        let isStream = scenario.streamBytes != nil
        let length = isStream ? "streams for \(format(duration, 1)) s" : "\(format(duration, 1)) s each"
        var lines = ["\(scenario.title) (median of \(repetitions), \(length))"]
        let header = ["server", "msgs/s", "MB/s", "p50 µs", "p99 µs", "srv CPU%", "srv µs/msg", "load CPU%", "vs C", "vs NIO", "p50 vs C", "µs/msg vs C"]
        var cells = [header]
        // A stream is compared by MB/s, and has no per-message latency.
        let rate: KeyPath<Measurement, Double> = isStream ? \.megabytesPerSecond : \.messagesPerSecond
        for (kind, m) in rows {
            cells.append([
                kind.name, grouped(m.messagesPerSecond), format(m.megabytesPerSecond, 1),
                isStream ? "-" : format(m.p50Microseconds, 1), isStream ? "-" : format(m.p99Microseconds, 1),
                format(m.serverCPUPercent, 0), format(m.serverMicrosecondsPerMessage, 2), format(m.clientCPUPercent, 0),
                ratio(m[keyPath: rate], floorRow?[keyPath: rate]), ratio(m[keyPath: rate], nioRow?[keyPath: rate]),
                isStream ? "-" : ratio(m.p50Microseconds, floorRow?.p50Microseconds),
                ratio(m.serverMicrosecondsPerMessage, floorRow?.serverMicrosecondsPerMessage),
            ])
        }
        lines += render(cells)
        return lines.joined(separator: "\n")
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
        return format(value / base, 2) + "x"
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
