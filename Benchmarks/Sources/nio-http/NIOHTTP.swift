import ArgumentParser
import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A SwiftNIO HTTP/1.1 server for the comparison, written as NIO's examples write one, on one
/// event loop: NIO's HTTP server pipeline (keep-alive, pipelining assistance, 400 on a request it
/// cannot parse) and a ChannelInboundHandler with reactor-http's routes: GET /plaintext, GET /json,
/// POST /echo (the body written back part by part as it arrives), 404 otherwise. Responses are
/// written as requests complete and flushed once per read burst, so pipelined requests are
/// answered in one write. With a certificate and key it serves TLS through NIOSSL (BoringSSL),
/// offering http/1.1 by ALPN.
@main
struct NIOHTTP: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nio-http", abstract: "A SwiftNIO HTTP/1.1 server.")

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks one, printed at start).") var port = 0
    @Option(help: "Serve HTTPS with this certificate chain (PEM), with --tls-key.") var tlsCert: String?
    @Option(help: "The private key of --tls-cert (PEM).") var tlsKey: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let tls = try tlsCert.flatMap { certificate in
            try tlsKey.map { key in
                let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
                var configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                configuration.applicationProtocols = ["http/1.1"]
                return try NIOSSLContext(configuration: configuration)
            }
        }
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    // Reads pause while the socket cannot take more writes: /echo sends back what it reads.
                    try channel.pipeline.syncOperations.addHandler(BackPressureHandler())
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler())
                }
            }
            .bind(host: host, port: port).wait()
        print("nio-http listening on \(host):\(channel.localAddress?.port ?? port)")
        fflush(nil)
        try channel.closeFuture.wait()
    }
}

/// The fixed responses, made once: a write of a body shares its storage.
private enum Canned {
    static let plaintext = ByteBuffer(string: "Hello, World!")
    static let json = ByteBuffer(string: #"{"message":"Hello, World!"}"#)
    static let plaintextHead = head(.ok, contentType: "text/plain", length: plaintext.readableBytes)
    static let jsonHead = head(.ok, contentType: "application/json", length: json.readableBytes)
    static let notFoundHead = head(.notFound, contentType: nil, length: 0)

    private static func head(_ status: HTTPResponseStatus, contentType: String?, length: Int) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        if let contentType { headers.add(name: "content-type", value: contentType) }
        headers.add(name: "content-length", value: String(length))
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }
}

/// Answers each request as its parts arrive; HTTPServerPipelineHandler, in front, holds a
/// pipelined request back until the response before it has ended.
private final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Route {
        case plaintext, json, echo, notFound
    }

    private var route = Route.notFound
    private var request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            request = head
            route = Self.route(head)
            if route == .echo {
                // The body goes back as it comes: the head now, with the request's length if it
                // had one (else NIO's encoder sends it chunked).
                var headers = HTTPHeaders()
                if let length = head.headers.first(name: "content-length") { headers.add(name: "content-length", value: length) }
                let response = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
                context.write(Self.wrapOutboundOut(.head(framed(response))), promise: nil)
            }
        case .body(let buffer):
            if route == .echo { context.write(Self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        case .end:
            switch route {
            case .plaintext: respond(context, Canned.plaintextHead, Canned.plaintext)
            case .json: respond(context, Canned.jsonHead, Canned.json)
            case .notFound: respond(context, Canned.notFoundHead, nil)
            case .echo: end(context)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private static func route(_ head: HTTPRequestHead) -> Route {
        let path = head.uri.prefix(while: { $0 != "?" })
        switch (head.method, path) {
        case (.GET, "/plaintext"): return .plaintext
        case (.GET, "/json"): return .json
        case (.POST, "/echo"): return .echo
        default: return .notFound
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ head: HTTPResponseHead, _ body: ByteBuffer?) {
        context.write(Self.wrapOutboundOut(.head(framed(head))), promise: nil)
        if let body { context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        end(context)
    }

    /// The request's end answered; without keep-alive, the connection closes once it is written.
    private func end(_ context: ChannelHandlerContext) {
        guard !request.isKeepAlive else {
            context.write(Self.wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: written)
    }

    /// `head` in the request's version, saying what becomes of the connection where that is
    /// not the version's default (HTTP/1.1 keeps it, HTTP/1.0 closes it).
    private func framed(_ head: HTTPResponseHead) -> HTTPResponseHead {
        guard request.version != .http1_1 || !request.isKeepAlive else { return head }
        var head = head
        head.version = request.version
        head.headers.replaceOrAdd(name: "connection", value: request.isKeepAlive ? "keep-alive" : "close")
        return head
    }
}
