import HTTPTypes
import Reactor

/// A response: its status and fields (swift-http-types' `HTTPResponse`), and its body, read
/// as it arrives.
public struct HTTPClientResponse: Sendable {
    public let response: HTTPResponse
    public let version: HTTPVersion
    public let body: HTTPClientResponseBody

    public var status: HTTPResponse.Status { response.status }
    public var headerFields: HTTPFields { response.headerFields }

    /// Closes the connection without reading the rest of the body.
    public func discard() { body.lease.close() }
}

/// A response body as an `AsyncSequence` of chunks; each read is bounded by the request's
/// timeout.
public struct HTTPClientResponseBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let lease: ResponseLease

    public struct AsyncIterator: AsyncIteratorProtocol {
        let lease: ResponseLease

        public nonisolated(nonsending) mutating func next() async throws -> [UInt8]? {
            try await lease.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(lease: lease) }

    /// The whole body; more than `maxBytes` throws.
    public nonisolated(nonsending) func collect(upTo maxBytes: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let chunk = try await lease.next() {
            guard bytes.count + chunk.count <= maxBytes else {
                lease.close()
                throw HTTPClientError("a response body over \(maxBytes) bytes")
            }
            bytes += chunk
        }
        return bytes
    }
}

/// A response's hold on its connection: given back to the pool when the body is read to its
/// end, closed if the response is dropped or discarded before.
final class ResponseLease: @unchecked Sendable {
    let client: HTTPClient
    let connection: ClientConnection
    let deadline: ContinuousClock.Instant
    @exclusivity(unchecked) private var isFinished = false

    init(client: HTTPClient, connection: ClientConnection, deadline: ContinuousClock.Instant) {
        self.client = client
        self.connection = connection
        self.deadline = deadline
        // A response without a body (HEAD, 204, 304) gives its connection back at once.
        if connection.isBodyDone { finish() }
    }

    nonisolated(nonsending) func next() async throws -> [UInt8]? {
        guard !isFinished else { return nil }
        let remaining = deadline - ContinuousClock.now
        do {
            guard remaining > .zero else { throw HTTPClientError("the request timed out") }
            let connection = self.connection
            let chunk = try await client.reactor.withTimeout(remaining) { try await connection.readBody(maxBytes: 64 * 1024) }
            if chunk == nil { finish() }
            return chunk
        } catch let error as ReactorError where error.code == .timedOut {
            close()
            throw HTTPClientError("the request timed out")
        } catch {
            close()
            throw error
        }
    }

    private func finish() {
        guard !isFinished else { return }
        isFinished = true
        client.checkIn(connection)
    }

    func close() {
        guard !isFinished else { return }
        connection.writer.abort()
        finish()
    }

    deinit { if !isFinished { close() } }
}
