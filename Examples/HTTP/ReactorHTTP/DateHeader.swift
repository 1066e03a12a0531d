import Glibc

/// The `Date` field's value (RFC 9110 section 5.6.7's IMF-fixdate, 29 bytes) for the current
/// second, rendered when the second changes rather than for every response.
struct DateHeader {
    private(set) var bytes = [UInt8](repeating: 0, count: 29)
    private var second = -1

    init() { update() }

    /// Renders the current second's date, if it changed.
    mutating func update() {
        let now = time(nil)
        guard now != second else { return }
        second = now
        var parts = tm()
        var seconds = now
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let text = "\(days[Int(parts.tm_wday)]), \(twoDigits(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(twoDigits(parts.tm_hour)):\(twoDigits(parts.tm_min)):\(twoDigits(parts.tm_sec)) GMT"
        bytes.withUnsafeMutableBufferPointer { storage in
            for (index, byte) in text.utf8.prefix(29).enumerated() { storage[index] = byte }
        }
    }

    private func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
