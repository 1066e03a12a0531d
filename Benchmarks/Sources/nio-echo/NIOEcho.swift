import ArgumentParser
import Dispatch
import NIOCore
import NIOPosix
import NIOSSL

/// SwiftNIO echo servers for the comparison, written as NIO's own examples write them, on one
/// event loop: `handler` echoes in a ChannelInboundHandler (NIOEchoServer); `async` wraps each
/// connection in a NIOAsyncChannel and echoes in a task (NIOTCPEchoServer). With a certificate
/// and key, `handler` serves TLS through NIOSSL (BoringSSL) in front of the same handler.
///
/// The main is synchronous and waits for a task that runs the server: an async main parks the
/// main thread in dispatch_main, whose sigsuspend valgrind 3.19 cannot run (it writes into the
/// read-only mask it is given), and `reactor-bench instructions` runs these under valgrind.
/// The server's own threads are the same either way.
@main
struct NIOEcho: ParsableCommand {
    enum Mode: String, ExpressibleByArgument {
        case handler, async, udp
    }

    static let configuration = CommandConfiguration(commandName: "nio-echo", abstract: "SwiftNIO echo servers.")

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks one, printed at start).") var port = 0
    @Option(help: "handler: ChannelInboundHandler; async: NIOAsyncChannel; udp: a DatagramBootstrap echo.") var mode = Mode.handler
    @Option(help: "udp: datagrams read per recvmmsg (NIO's datagramVectorReadMessageCount; 0: one recvmsg per datagram).") var vectorReads = 64
    @Flag(help: "udp: UDP_GRO on receive (NIO's datagramReceiveOffload), each message echoed with UDP_SEGMENT.") var offload = false
    @Option(help: "Serve TLS (handler mode) with this certificate chain (PEM), with --tls-key.") var tlsCert: String?
    @Option(help: "The private key of --tls-cert (PEM).") var tlsKey: String?

    func run() throws {
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        Task {
            do {
                let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
                switch mode {
                case .handler: try await runHandler(group)
                case .async: try await runAsync(group)
                case .udp: try await runUDP(group)
                }
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
    }

    private func runHandler(_ group: MultiThreadedEventLoopGroup) async throws {
        let tls = try tlsCert.flatMap { certificate in
            try tlsKey.map { key in
                let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
                return try NIOSSLContext(
                    configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))))
            }
        }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: host, port: port).get()
        announce(channel.localAddress)
        try await channel.closeFuture.get()
    }

    private func runAsync(_ group: MultiThreadedEventLoopGroup) async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        announce(server.channel.localAddress)
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask {
                        try? await connection.executeThenClose { inbound, outbound in
                            for try await buffer in inbound { try await outbound.write(buffer) }
                        }
                    }
                }
            }
        }
    }

    private func runUDP(_ group: MultiThreadedEventLoopGroup) async throws {
        var bootstrap = DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UDPEchoHandler()) }
            }
        if vectorReads > 0 {
            // NIO splits one receive buffer across a vector read's messages: 2 KiB each.
            bootstrap = bootstrap.channelOption(.datagramVectorReadMessageCount, value: vectorReads)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: vectorReads * 2048))
        }
        if offload {
            bootstrap = bootstrap.channelOption(.datagramReceiveOffload, value: true).channelOption(.datagramReceiveSegmentSize, value: true)
        }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        announce(channel.localAddress)
        try await channel.closeFuture.get()
    }

    private func announce(_ address: SocketAddress?) {
        print("nio-echo (\(mode.rawValue)) listening on \(host):\(address?.port ?? port)")
        fflush(nil)
    }
}

/// How the server's task ended, for the main thread (which reads it after the task signalled).
private final class Outcome: @unchecked Sendable {
    var error: Error?
}

/// NIOEchoServer's handler: write back what is read, flush when the read burst ends.
private final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// NIO's UDP echo: each datagram written back to its sender, flushed when the read burst ends.
/// With receive offload, a coalesced message goes back with its segment size (UDP_SEGMENT).
private final class UDPEchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let metadata = envelope.metadata?.segmentSize.map { AddressedEnvelope<ByteBuffer>.Metadata(ecnState: .transportNotCapable, packetInfo: nil, segmentSize: $0) }
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: envelope.data, metadata: metadata)), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A datagram refused (a sender gone): the channel carries on, as the others do.
    }
}
