import Glibc
import TestSupport
import XCTest

import Reactor
import ReactorStreams

/// createDatagramEndpoint: datagrams as an AsyncSequence, sent to an address or to the
/// connected remote; closing ends the sequence.
final class DatagramEndpointTests: XCTestCase {
    func testAnEchoEndpointAnswersAConnectedOneUntilItIsClosed() throws {
        let echoed = try runReactor { reactor in
            let server = try await createDatagramEndpoint(local: ("127.0.0.1", 0))
            XCTAssertNotEqual(server.localAddress.port, 0)
            let serving = Task(executorPreference: reactor) {
                var served = 0
                for try await datagram in server {
                    try await server.send(datagram.bytes, to: datagram.address)
                    served += 1
                }
                return served
            }
            let client = try await createDatagramEndpoint(remote: ("127.0.0.1", server.localAddress.port!))
            XCTAssertEqual(client.remoteAddress, server.localAddress)
            var echoed = 0
            for index in 0..<100 {
                let payload = randomBytes(index * 13, seed: UInt64(index))
                try await client.send(payload)
                let reply = try await client.receive()
                XCTAssertEqual(reply, Datagram(bytes: payload, address: server.localAddress))
                echoed += 1
            }
            client.close()
            let afterClose = try await client.receive()
            XCTAssertNil(afterClose)
            server.close()
            let served = try await serving.value
            XCTAssertEqual(served, 100)
            return echoed
        }
        XCTAssertEqual(echoed, 100)
    }

    func testAnUnconnectedEndpointNeedsAnAddressToSend() throws {
        try runReactor { reactor in
            let endpoint = try await createDatagramEndpoint(local: ("127.0.0.1", 0))
            do {
                try await endpoint.send([1])
                XCTFail("an unconnected endpoint sent without an address")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .invalidArgument)
            }
            endpoint.close()
        }
    }
}
