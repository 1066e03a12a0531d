import Foundation

/// One status line on stderr, rewritten in place on a terminal; nil clears it.
func progress(_ line: String?) {
    let terminal = isatty(2) != 0
    statusLine(line.map { terminal ? "\r\u{1B}[K\($0)" : "\($0)\n" } ?? (terminal ? "\r\u{1B}[K" : ""))
}

/// Writes `text` to stderr after flushing stdout, so that a status line never lands inside a
/// table still waiting in stdout's buffer (stdout is fully buffered when it is not a terminal).
func statusLine(_ text: String) {
    fflush(nil)  // every C stream: stdout among them, which print writes through
    FileHandle.standardError.write(Data(text.utf8))
}
