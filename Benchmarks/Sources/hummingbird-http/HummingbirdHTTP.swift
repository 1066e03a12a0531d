import ArgumentParser
import Dispatch
import Hummingbird
import NIOCore
import NIOPosix

/// A Hummingbird 2 server for the comparison, written as Hummingbird's own examples write one: a
/// Router with reactor-http's routes (GET /plaintext, GET /json, POST /echo with the body streamed
/// back, 404 otherwise) in an Application whose channels run on one event-loop thread; its
/// handlers run as tasks on Swift's global executor, as Hummingbird runs them. Plain HTTP only.
@main
struct HummingbirdHTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hummingbird-http", abstract: "A Hummingbird HTTP/1.1 server.")

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks one, printed at start).") var port = 0

    func run() async throws {
        let router = Router()
        router.get("plaintext") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: plaintext))
        }
        router.get("json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: json))
        }
        router.post("echo") { request, _ -> Response in
            // The request's length, when it had one, is the response's (else it goes chunked).
            let length = request.headers[.contentLength].flatMap { Int($0) }
            return Response(
                status: .ok,
                body: ResponseBody(contentLength: length) { writer in
                    try await writer.write(request.body)
                    try await writer.finish(nil)
                })
        }
        let host = self.host
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                print("hummingbird-http listening on \(host):\(channel.localAddress?.port ?? 0)")
                fflush(nil)
            },
            eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: 1)))
        try await app.runService()
    }
}

/// The fixed bodies, made once: a response shares their storage.
private let plaintext = ByteBuffer(string: "Hello, World!")
private let json = ByteBuffer(string: #"{"message":"Hello, World!"}"#)
