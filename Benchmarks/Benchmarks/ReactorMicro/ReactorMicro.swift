import AsyncAlgorithms
import Benchmark
import NIOPosix
import Reactor
import ReactorStreams
import Synchronization

/// Micro-benchmarks of the hot paths, with malloc counts: run `swift package benchmark` in
/// Benchmarks/. Names have no spaces: the thresholds files are named after them. Each benchmark runs its iterations in one task on a reactor started once, over
/// a loopback TCP pair (or UDP pair) made in its setup.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000,
        // Checked against the p90 in Thresholds/ (`swift package benchmark thresholds check`),
        // which holds malloc counts only: they are per 1,000 iterations, so 100 lets the
        // budget's occasional yield vary and fails on one more malloc per iteration.
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 100])])
    Benchmark.setup = { try await Fixture.start() }
    // The coordination primitives do no I/O, so nothing varies their count: what an iteration
    // counts is the task that runs it and the primitive made in it, the same every time. 10
    // fails on one malloc per 100 operations.
    var coordination = Benchmark.defaultConfiguration
    coordination.thresholds = [.mallocCountTotal: .init(absolute: [.p90: 10])]

    Benchmark("sockRecv+sockSendall-round-trip-64B") { benchmark in
        let (a, b) = Fixture.shared.pair
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let message = [UInt8](repeating: 7, count: 64)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            for _ in iterations {
                try await reactor.sockSendall(a, message)
                _ = try await reactor.sockRecv(b, into: buffer)
                try await reactor.sockSendall(b, UnsafeRawBufferPointer(buffer))
                _ = try await reactor.sockRecv(a, into: buffer)
            }
        }
    }

    Benchmark("StreamReader.readLine-64B") { benchmark in
        let (a, _) = Fixture.shared.pair
        let reader = Fixture.shared.reader
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let line = [UInt8](repeating: 65, count: 63) + [10]
            for _ in iterations {
                try await reactor.sockSendall(a, line)
                blackHole(try await reader.readLine())
            }
        }
    }

    Benchmark("StreamWriter.write+drain-64B") { benchmark in
        let (_, b) = Fixture.shared.pair
        let writer = Fixture.shared.writer
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let message = [UInt8](repeating: 7, count: 64)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buffer.deallocate() }
            for _ in iterations {
                try writer.write(message)
                try await writer.drain()
                _ = try await reactor.sockRecv(b, into: buffer)
            }
        }
    }

    Benchmark("suspend+resume-Task.yield") { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { _ in
            for _ in iterations {
                await Task.yield()
            }
        }
    }

    // An empty job through a pool of threads and back, awaited by a task on the reactor: the
    // blocking pool (asyncio's run_in_executor), SwiftNIO's NIOThreadPool, and a detached task
    // on Swift's global executor.
    Benchmark("blocking-pool-round-trip") { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            for _ in iterations {
                try await reactor.runBlocking {}
            }
        }
    }

    Benchmark("NIOThreadPool.runIfActive-round-trip") { benchmark in
        let iterations = benchmark.scaledIterations
        let pool = Fixture.shared.nioThreadPool
        await Fixture.shared.onReactor { _ in
            for _ in iterations {
                try await pool.runIfActive {}
            }
        }
    }

    Benchmark("Task.detached-round-trip") { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { _ in
            for _ in iterations {
                await Task.detached {}.value
            }
        }
    }

    // The coordination primitives on the reactor's thread: uncontended, and one item passed
    // between two tasks and back through two one-slot channels per iteration (ours, Swift's
    // AsyncStream, swift-async-algorithms' AsyncChannel; tasks on the reactor alike).
    Benchmark("Lock.acquire+release", configuration: coordination) { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let lock = Lock(on: reactor)
            for _ in iterations {
                try await lock.acquire()
                try lock.release()
            }
        }
    }

    Benchmark("Semaphore.acquire+release", configuration: coordination) { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let semaphore = try Semaphore(value: 1, on: reactor)
            for _ in iterations {
                try await semaphore.acquire()
                try semaphore.release()
            }
        }
    }

    Benchmark("Queue-ping-pong", configuration: coordination) { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let ping = Queue<Int>(maxSize: 1, on: reactor)
            let pong = Queue<Int>(maxSize: 1, on: reactor)
            let echo = Task(executorPreference: reactor) {
                for _ in iterations { try await pong.put(try await ping.get()) }
            }
            for round in iterations {
                try await ping.put(round)
                blackHole(try await pong.get())
            }
            try await echo.value
        }
    }

    Benchmark("AsyncStream-ping-pong") { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let (ping, pingIn) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(1))
            let (pong, pongIn) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(1))
            let echo = Task(executorPreference: reactor) {
                for await item in ping { pongIn.yield(item) }
            }
            var replies = pong.makeAsyncIterator()
            for round in iterations {
                pingIn.yield(round)
                blackHole(await replies.next())
            }
            pingIn.finish()
            await echo.value
        }
    }

    Benchmark("AsyncChannel-ping-pong") { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let ping = AsyncChannel<Int>()
            let pong = AsyncChannel<Int>()
            let echo = Task(executorPreference: reactor) {
                for await item in ping { await pong.send(item) }
            }
            var replies = pong.makeAsyncIterator()
            for round in iterations {
                await ping.send(round)
                blackHole(await replies.next())
            }
            ping.finish()
            await echo.value
        }
    }

    Benchmark("sockSendto+sockRecvfrom-round-trip-64B") { benchmark in
        let (a, b) = Fixture.shared.datagramPair
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let message = [UInt8](repeating: 7, count: 64)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 1)
            defer { buffer.deallocate() }
            let bAddress = try b.localAddress()
            for _ in iterations {
                try await reactor.sockSendto(a, message, to: bAddress)
                let (count, sender) = try await reactor.sockRecvfrom(b, into: buffer)
                try await reactor.sockSendto(b, UnsafeRawBufferPointer(rebasing: buffer.prefix(count)), to: sender)
                _ = try await reactor.sockRecvfrom(a, into: buffer)
            }
        }
    }

    // 16 datagrams out in one sendmmsg, echoed back as a batch, received as one: an iteration
    // is 16 round trips.
    Benchmark("DatagramBatch-echo-16x64B") { benchmark in
        let (a, b) = Fixture.shared.datagramPair
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            let outgoing = DatagramBatch(capacity: 16, slotSize: 2048)
            let echo = DatagramBatch(capacity: 16, slotSize: 2048)
            let incoming = DatagramBatch(capacity: 16, slotSize: 2048)
            let message = [UInt8](repeating: 7, count: 64)
            let bAddress = try b.localAddress()
            for _ in 0..<16 { try outgoing.append(message, to: bAddress) }
            for _ in iterations {
                try await reactor.sockSendto(a, outgoing)
                var echoed = 0
                while echoed < 16 {
                    try await reactor.sockRecvfrom(b, into: echo)
                    try await reactor.sockSendto(b, echo)
                    echoed += echo.count
                }
                var received = 0
                while received < 16 { received += try await reactor.sockRecvfrom(a, into: incoming) }
            }
        }
    }

    Benchmark("timer-schedule+cancel") { benchmark in
        let iterations = benchmark.scaledIterations
        await Fixture.shared.onReactor { reactor in
            for _ in iterations {
                let timer = reactor.callLater(.seconds(60)) {}
                reactor.cancelTimer(timer)
            }
        }
    }
}

/// One reactor on its own thread, and a connected loopback pair on it, made once before the
/// benchmarks run.
final class Fixture: Sendable {
    private static let current = Mutex<Fixture?>(nil)
    static var shared: Fixture { current.withLock { $0! } }

    let reactor: Reactor
    let pair: (Socket, Socket)
    /// Two UDP sockets bound on loopback.
    let datagramPair: (Socket, Socket)
    /// A writer on the pair's first socket and a reader on its second, made once: a writer
    /// that is dropped closes its socket.
    let writer: StreamWriter
    let reader: StreamReader
    /// As many threads as the blocking pool has.
    let nioThreadPool = NIOThreadPool(numberOfThreads: BlockingPool.shared.threadCount)

    private init(reactor: Reactor, pair: (Socket, Socket), datagramPair: (Socket, Socket)) {
        self.reactor = reactor
        self.pair = pair
        self.datagramPair = datagramPair
        writer = StreamWriter(pair.0)
        reader = StreamReader(pair.1)
        nioThreadPool.start()
    }

    static func start() async throws {
        let reactor = try Reactor.start()
        let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0))
        let client = try await reactor.connect(to: listener.localAddress())
        let (server, _) = try await reactor.sockAccept(listener)
        listener.close()
        try client.setOption(.noDelay, 1)
        try server.setOption(.noDelay, 1)
        let loopback = try SocketAddress(ipAddress: "127.0.0.1", port: 0)
        let datagrams = (try await reactor.makeSocket(family: .ipv4, kind: .datagram), try await reactor.makeSocket(family: .ipv4, kind: .datagram))
        try datagrams.0.bind(to: loopback)
        try datagrams.1.bind(to: loopback)
        let fixture = Fixture(reactor: reactor, pair: (client, server), datagramPair: datagrams)
        current.withLock { $0 = fixture }
    }

    /// Runs `body` in one task on the reactor and waits for it.
    func onReactor(_ body: @escaping @Sendable (Reactor) async throws -> Void) async {
        let reactor = reactor
        do {
            try await Task(executorPreference: reactor) { try await body(reactor) }.value
        } catch {
            fatalError("benchmark failed: \(error)")
        }
    }
}
