import CReactor
import Glibc

/// Waiting for process signals (SIGINT, SIGTERM) from async code, for graceful shutdown.
///
/// Call `blockSignals` first thing in `main`, before any other thread starts: threads inherit
/// the mask, so the signals are then delivered only to `waitForSignal`'s thread, which takes
/// them with sigwait(2) instead of running a handler in signal context.
public enum SignalWaiting {
    /// Blocks `signals` for the calling thread and the threads it starts from now on.
    public static func blockSignals(_ signals: [Int32]) {
        var set = signalSet(signals)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Returns the first of `signals` delivered to the process (which must be blocked, see
    /// `blockSignals`). Waits on a thread of its own: no loop is blocked.
    public static func waitForSignal(_ signals: [Int32]) async -> Int32 {
        await withUnsafeContinuation { continuation in
            let waiter = SignalWaiter(set: signalSet(signals), continuation: continuation)
            let started = cr_thread_start({ context in
                Unmanaged<SignalWaiter>.fromOpaque(context!).takeRetainedValue().run()
            }, Unmanaged.passRetained(waiter).toOpaque())
            precondition(started == 0, "cannot start the signal-waiting thread: errno \(-started)")
        }
    }

    private static func signalSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}

private final class SignalWaiter: @unchecked Sendable {
    var set: sigset_t
    let continuation: UnsafeContinuation<Int32, Never>

    init(set: sigset_t, continuation: UnsafeContinuation<Int32, Never>) {
        self.set = set
        self.continuation = continuation
    }

    func run() {
        var signal: Int32 = 0
        while sigwait(&set, &signal) != 0 {}
        continuation.resume(returning: signal)
    }
}
