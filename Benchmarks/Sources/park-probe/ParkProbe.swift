import Glibc

/// Two ways to park a task on a one-thread loop, to count under callgrind what each costs the
/// concurrency runtime per wait (the benchmarks document, "a wait in a scope parks through an
/// executor switch").
///
/// `park-probe WAY WAITS`, WAY one of `continuation`, `hop`, `preferring-continuation`,
/// `preferring-hop`. A task parks `WAITS` times; the loop wakes it each time its queue is empty.
/// - A continuation, as the reactor's fast path parks: resumed on the loop's executor, which the
///   park writes into the continuation's context.
/// - A hop onto an executor that keeps the job it is given until the wake-up, which hands the
///   job to the loop: the task's own job, with no continuation and no dependency record to
///   update at the resumption.
///
/// The plain ways run in an actor isolated to the loop (as `reactor-echo --mode sock`); the
/// `preferring-` ways in a task that prefers the loop's task executor (as a stream server's
/// connection). Exits 1 unless every wait ran on the loop thread.
@main
enum ParkProbe {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count == 3, let way = Way(rawValue: arguments[1]), let waits = Int(arguments[2]) else {
            print("usage: park-probe continuation|hop|preferring-continuation|preferring-hop WAITS")
            exit(2)
        }
        let loop = Loop()
        let completed = way.start(waits, on: loop)
        loop.run()
        exit(completed.value == waits ? 0 : 1)
    }
}

enum Way: String {
    case continuation, hop
    case preferringContinuation = "preferring-continuation"
    case preferringHop = "preferring-hop"

    /// Starts the parking task; the box holds the waits it completed on the loop thread.
    func start(_ waits: Int, on loop: Loop) -> Box {
        let completed = Box()
        switch self {
        case .continuation, .hop:
            let worker = Worker(loop: loop)
            let viaHop = self == .hop
            Task.detached {
                completed.value = await viaHop ? worker.parkViaHop(waits) : worker.parkViaContinuation(waits)
                loop.done = true
            }
        case .preferringContinuation, .preferringHop:
            let viaHop = self == .preferringHop
            Task(executorPreference: loop.taskExecutor) {
                completed.value = await viaHop ? parkViaHop(waits, on: loop) : parkViaContinuation(waits, on: loop)
                loop.done = true
            }
        }
        return completed
    }
}

final class Box: @unchecked Sendable {
    var value = 0
}

/// The loop: runs the jobs of its queue on the main thread, and wakes the parked task whenever
/// the queue is empty. Its serial executor is itself; its task executor an object of its own,
/// as the reactor's `LoopIsolation` and the reactor are.
final class Loop: SerialExecutor, @unchecked Sendable {
    struct Ready {
        let job: UnownedJob
        let onTaskExecutor: Bool
    }

    let thread = pthread_self()
    var done = false
    private var queue: [Ready] = []
    private var head = 0
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    var parkedContinuation: UnsafeContinuation<Void, Never>?
    var parkedJob: Ready?
    /// Whether a task that hops to park runs on the task executor when it comes back.
    var parksPreferring = false
    lazy var taskExecutor = LoopTaskExecutor(loop: self)
    lazy var taskExecutorAsSerial = TaskExecutorAsSerial(loop: self)
    lazy var parking = Parking(loop: self)

    init() { pthread_mutex_init(lock, nil) }

    func enqueue(_ job: consuming ExecutorJob) { append(Ready(job: UnownedJob(job), onTaskExecutor: false)) }

    /// From any thread: the task's first job comes from the global executor.
    func append(_ ready: Ready) {
        pthread_mutex_lock(lock)
        queue.append(ready)
        pthread_mutex_unlock(lock)
    }

    func run() {
        while !done {
            pthread_mutex_lock(lock)
            let next: Ready? = head < queue.count ? queue[head] : nil
            if next != nil {
                head += 1
                if head == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    head = 0
                }
            }
            pthread_mutex_unlock(lock)
            if let next {
                if next.onTaskExecutor {
                    next.job.runSynchronously(on: taskExecutor.asUnownedTaskExecutor())
                } else {
                    next.job.runSynchronously(on: asUnownedSerialExecutor())
                }
            } else if let continuation = parkedContinuation {
                parkedContinuation = nil
                continuation.resume()
            } else if let job = parkedJob {
                parkedJob = nil
                append(job)
            } else {
                usleep(100)  // before the task's first job arrives from the global executor
            }
        }
    }
}

final class LoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    unowned(unsafe) let loop: Loop
    init(loop: Loop) { self.loop = loop }
    func enqueue(_ job: consuming ExecutorJob) { loop.append(Loop.Ready(job: UnownedJob(job), onTaskExecutor: true)) }
}

/// The task executor as a serial executor, for a continuation's context: the reactor's fast
/// path names it there so that the resumption enqueues without looking up the preference.
final class TaskExecutorAsSerial: SerialExecutor, @unchecked Sendable {
    unowned(unsafe) let loop: Loop
    init(loop: Loop) { self.loop = loop }
    func enqueue(_ job: consuming ExecutorJob) { loop.taskExecutor.enqueue(job) }
}

/// The executor a parking task hops onto: it keeps the job until the wake-up.
final class ParkingExecutor: SerialExecutor, @unchecked Sendable {
    unowned(unsafe) let loop: Loop
    init(loop: Loop) { self.loop = loop }
    func enqueue(_ job: consuming ExecutorJob) {
        loop.parkedJob = Loop.Ready(job: UnownedJob(job), onTaskExecutor: loop.parksPreferring)
    }
}

actor Parking {
    let loop: Loop
    private let executor: ParkingExecutor
    init(loop: Loop) {
        self.loop = loop
        executor = ParkingExecutor(loop: loop)
    }
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Entered through a hop onto the parking executor. Its body must need the executor, or the
    /// optimizer removes the hop.
    func park() -> Int { onLoopThread(loop) }
}

/// 1 on the loop thread, else 0: the probe counts the waits that came back there.
@inline(never)
func onLoopThread(_ loop: Loop) -> Int { pthread_equal(pthread_self(), loop.thread) != 0 ? 1 : 0 }

/// Parks with a continuation whose context names `executor` for the resumption, as the
/// reactor's fast path does (the context follows the task's 64-byte job header; its
/// ResumeToExecutor is at offset 48).
@inline(__always)
nonisolated(nonsending) func parkWithContinuation(on loop: Loop, resumingOn executor: UnownedSerialExecutor) async -> Int {
    await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
        let task = unsafeBitCast(continuation, to: UnsafeMutableRawPointer.self)
        let context = task.load(fromByteOffset: 64, as: UnsafeMutableRawPointer.self)
        context.storeBytes(of: executor, toByteOffset: 48, as: UnownedSerialExecutor.self)
        loop.parkedContinuation = continuation
    }
    return onLoopThread(loop)
}

actor Worker {
    let loop: Loop
    init(loop: Loop) { self.loop = loop }
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    @inline(never) func parkViaContinuation(_ waits: Int) async -> Int {
        var completed = 0
        for _ in 0..<waits { completed &+= await parkWithContinuation(on: loop, resumingOn: loop.asUnownedSerialExecutor()) }
        return completed
    }

    @inline(never) func parkViaHop(_ waits: Int) async -> Int {
        var completed = 0
        for _ in 0..<waits { completed &+= await loop.parking.park() }
        return completed
    }
}

@inline(never)
nonisolated(nonsending) func parkViaContinuation(_ waits: Int, on loop: Loop) async -> Int {
    var completed = 0
    let executor = UnownedSerialExecutor(ordinary: loop.taskExecutorAsSerial)
    for _ in 0..<waits { completed &+= await parkWithContinuation(on: loop, resumingOn: executor) }
    return completed
}

@inline(never)
nonisolated(nonsending) func parkViaHop(_ waits: Int, on loop: Loop) async -> Int {
    var completed = 0
    loop.parksPreferring = true
    for _ in 0..<waits { completed &+= await loop.parking.park() }
    return completed
}
