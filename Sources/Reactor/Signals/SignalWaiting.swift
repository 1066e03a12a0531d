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
    /// `blockSignals`). Waits in sigwait(2) on a thread of `pool` (by default the process's
    /// blocking pool), which it holds until a signal comes: no loop is blocked. Throws
    /// `ReactorError` (`.poolFull`) if the pool refuses the job.
    public static func waitForSignal(_ signals: [Int32], on pool: BlockingPool = .shared) async throws -> Int32 {
        let set = UnsafeTransfer(signalSet(signals))
        return try await pool.run {
            var set = set.value
            var signal: Int32 = 0
            while sigwait(&set, &signal) != 0 {}
            return signal
        }
    }

    private static func signalSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
