import CReactor
import Glibc
import Reactor

/// Reaps the children no pidfd watches: every child where `pidfd_open` is missing (Linux
/// before 5.3, or a sandbox that refuses it), and the children still running when their
/// reactor shut down (which closed their pidfds). One blocking-pool job polls them all with
/// waitid(WNOHANG), every few milliseconds, for as long as there are any: no SIGCHLD
/// handler, and no thread per child.
final class FallbackReaper: Sendable {
    static let shared = FallbackReaper()

    /// How long the job waits between two looks at its children, in microseconds.
    static let pollInterval: UInt32 = 5_000

    private struct State {
        /// Each child, with the future its status goes to (none for a child nobody waits for).
        var children: [Int32: Future<Int32>?] = [:]
        var isPolling = false
    }

    // A child is reaped, and leaves `children`, under this lock, and a signal is only sent to
    // a child still in it: so never to a process that reused a reaped child's pid.
    private let state = LockedValue(State())

    /// Reaps `pid` when it exits, and sets `exit` to its status.
    func watch(_ pid: Int32, _ exit: Future<Int32>?) {
        let startPolling = state.withLock { state in
            state.children[pid] = exit
            defer { state.isPolling = true }
            return !state.isPolling
        }
        if startPolling {
            Task.detached { try? await BlockingPool.shared.run { self.pollUntilNone() } }
        }
    }

    /// kill(2) for a watched child; ESRCH once it was reaped.
    func sendSignal(_ signal: Int32, to pid: Int32) throws {
        let result = state.withLock { $0.children.keys.contains(pid) ? cr_kill(pid, signal) : -ESRCH }
        if result < 0 { throw SystemCallError(operation: "kill", errno: -result, detail: "pid \(pid)") }
    }

    private func pollUntilNone() {
        while true {
            var exited: [(Future<Int32>?, Result<Int32, any Error>)] = []
            let done = state.withLock { state in
                for (pid, exit) in state.children {
                    var status: Int32 = 0
                    let reaped = cr_pid_reap(pid, &status)
                    if reaped == 0 { continue }
                    state.children[pid] = nil
                    exited.append((exit, reaped == 1 ? .success(status) : .failure(SystemCallError(operation: "waitid", errno: -reaped, detail: "pid \(pid)"))))
                }
                if state.children.isEmpty { state.isPolling = false }
                return !state.isPolling
            }
            for (exit, result) in exited {
                switch result {
                case .success(let status): try? exit?.setResult(status)
                case .failure(let error): try? exit?.setError(error)
                }
            }
            if done { return }
            usleep(Self.pollInterval)
        }
    }
}
