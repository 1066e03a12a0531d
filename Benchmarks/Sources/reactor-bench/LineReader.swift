import Foundation

/// A child process's output, read a line at a time, each line waited for with a deadline.
final class LineReader {
    private let handle: FileHandle
    /// What has been read past the last line returned.
    private(set) var pending = ""

    init(_ handle: FileHandle) {
        self.handle = handle
    }

    /// The next line, without its newline; nil at end of file or after `seconds`.
    func next(within seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        var ready = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
        while !pending.contains("\n") && Date() < deadline {
            if poll(&ready, 1, 100) <= 0 { continue }
            let data = handle.availableData
            if data.isEmpty { break }
            pending += String(decoding: data, as: UTF8.self)
        }
        guard let newline = pending.firstIndex(of: "\n") else { return nil }
        let line = String(pending[..<newline])
        pending = String(pending[pending.index(after: newline)...])
        return line
    }
}
