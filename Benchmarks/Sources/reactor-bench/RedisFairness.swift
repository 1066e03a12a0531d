import Foundation

/// reactor-bench redis, last part: one busy connection beside a quiet one. One client
/// pipelines GETs flat out on one connection (8,000 per send, from one thread, while another
/// thread reads the replies), so the server always has requests to read; a second connection
/// sends a PING every 2 ms and times its reply. A server whose loop lets the busy connection
/// run on without looking at the others answers the PING late. (redis-benchmark -P waits for
/// each batch's replies before it sends the next, so the server's reads meet EAGAIN.)
extension RedisRuns {
    static let busyPipeline = 8_000

    static func busyNeighbour(servers: [(String, ServerProcess)], pings: Int) throws {
        print("### PING beside a busy connection (\(busyPipeline) GETs per send, flat out, replies read meanwhile; \(pings) PINGs 2 ms apart, reply times)\n")
        print("| server | PING p50 ms | p90 ms | max ms |")
        print("| --- | --- | --- | --- |")
        for (name, server) in servers {
            progress("busy neighbour · \(name)")
            let busy = try BlockingConnection(port: server.port)
            let request = Array("*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n".utf8)
            let batch = Array((0..<busyPipeline).map { _ in request }.joined())
            let ended = DispatchSemaphore(value: 0)
            let sender = Thread {
                while (try? busy.send(batch)) != nil {}
                ended.signal()
            }
            let reader = Thread {
                var sink = [UInt8](repeating: 0, count: 1 << 16)
                while (try? busy.receive(into: &sink)) ?? 0 > 0 {}
                ended.signal()
            }
            sender.start()
            reader.start()
            defer {
                busy.shutdown()  // both threads then end: their calls fail or see EOF
                ended.wait()
                ended.wait()
                busy.close()
            }
            usleep(300_000)  // the busy connection gets going
            let times = try pingReplyTimes(port: server.port, count: pings)
            let sorted = times.sorted()
            let percentile = { (fraction: Double) in sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
            print(String(format: "| %@ | %.2f | %.2f | %.2f |", name, percentile(0.5), percentile(0.9), sorted.last!))
        }
        progress(nil)
        print("")
    }

    /// PINGs over a connection of its own, one at a time: each reply's time in ms.
    private static func pingReplyTimes(port: Int, count: Int) throws -> [Double] {
        let connection = try BlockingConnection(port: port)
        defer { connection.close() }
        let request = Array("*1\r\n$4\r\nPING\r\n".utf8)
        let expected = Array("+PONG\r\n".utf8)
        var reply = [UInt8](repeating: 0, count: expected.count)
        var times: [Double] = []
        for _ in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            try connection.send(request)
            try connection.receiveExactly(into: &reply)
            guard reply == expected else { throw BenchError("PING answered \(String(decoding: reply, as: UTF8.self))") }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            usleep(2_000)
        }
        return times
    }
}

/// A blocking TCP connection to a server on 127.0.0.1, with TCP_NODELAY and a 30 s receive
/// timeout.
final class BlockingConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let error = BenchError("connect to port \(port): \(String(cString: strerror(errno)))")
            Glibc.close(fd)
            throw error
        }
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw BenchError("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    /// One recv: the byte count, 0 at EOF.
    func receive(into buffer: inout [UInt8]) throws -> Int {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { throw BenchError("recv: \(String(cString: strerror(errno)))") }
        return count
    }

    func receiveExactly(into buffer: inout [UInt8]) throws {
        var received = 0
        while received < buffer.count {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, $0.count - received, 0) }
            guard count > 0 else { throw BenchError("no reply within 30 s (recv: \(count < 0 ? String(cString: strerror(errno)) : "EOF"))") }
            received += count
        }
    }

    /// Ends both directions: a thread blocked in send or recv returns.
    func shutdown() { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    func close() { Glibc.close(fd) }
}
