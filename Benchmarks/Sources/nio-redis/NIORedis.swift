import ArgumentParser
import Dispatch
import NIOCore
import NIOPosix

/// A Redis-protocol server on SwiftNIO for the comparison, written the way NIO users write one:
/// a ByteToMessageDecoder that frames RESP requests into arguments, and a handler that runs
/// them against a keyspace on the one event loop and flushes once per read burst (so
/// pipelined requests are answered in one write). It serves the commands reactor-bench
/// measures (PING, SET, GET, LPUSH, LPOP, INCR) and the ones redis-benchmark asks at start
/// (CONFIG GET).
@main
struct NIORedis: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nio-redis", abstract: "A SwiftNIO RESP server.")

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks one, printed at start).") var port = 0

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = Store()
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                    try channel.pipeline.syncOperations.addHandler(CommandHandler(store: store))
                }
            }
            .bind(host: host, port: port).wait()
        print("nio-redis listening on 127.0.0.1:\(channel.localAddress?.port ?? 0)")
        fflush(nil)
        try channel.closeFuture.wait()
    }
}

/// Frames `*N\r\n$len\r\nbytes\r\n...` into the arguments' buffers (slices of the input).
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = [ByteBuffer]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var view = buffer
        guard let count = try Self.header(&view, marker: UInt8(ascii: "*")) else { return .needMoreData }
        var arguments: [ByteBuffer] = []
        arguments.reserveCapacity(count)
        for _ in 0..<count {
            guard let length = try Self.header(&view, marker: UInt8(ascii: "$")) else { return .needMoreData }
            guard view.readableBytes >= length + 2, let argument = view.readSlice(length: length) else { return .needMoreData }
            view.moveReaderIndex(forwardBy: 2)
            arguments.append(argument)
        }
        buffer = view
        context.fireChannelRead(wrapInboundOut(arguments))
        return .continue
    }

    /// `<marker><integer>\r\n`, or nil until the line is complete.
    private static func header(_ buffer: inout ByteBuffer, marker: UInt8) throws -> Int? {
        guard let line = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\r")), line + 1 < buffer.writerIndex else { return nil }
        guard buffer.readInteger(as: UInt8.self) == marker,
            let text = buffer.readString(length: line - buffer.readerIndex), let value = Int(text)
        else { throw RESPError.protocolError }
        buffer.moveReaderIndex(forwardBy: 2)
        return value
    }
}

enum RESPError: Error { case protocolError }

/// The keyspace, used on the one event loop only.
final class Store: @unchecked Sendable {
    enum Value {
        case string(ByteBuffer)
        case list(List)
    }

    /// A list in a box, so that a push or pop changes it in place.
    final class List {
        var items = CircularBuffer<ByteBuffer>()
    }

    var values: [ByteBuffer: Value] = [:]
}

final class CommandHandler: ChannelInboundHandler {
    typealias InboundIn = [ByteBuffer]
    typealias OutboundOut = ByteBuffer

    private let store: Store
    private var reply: ByteBuffer?

    init(store: Store) { self.store = store }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let arguments = unwrapInboundIn(data)
        var out = reply ?? context.channel.allocator.buffer(capacity: 4096)
        run(arguments, into: &out)
        reply = out
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let out = reply, out.readableBytes > 0 {
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            reply = nil
        }
    }

    private func run(_ arguments: [ByteBuffer], into out: inout ByteBuffer) {
        guard let name = arguments.first.map({ String(buffer: $0).uppercased() }) else { return }
        switch (name, arguments.count) {
        case ("PING", 1):
            out.writeString("+PONG\r\n")
        case ("SET", 3):
            store.values[arguments[1]] = .string(arguments[2])
            out.writeString("+OK\r\n")
        case ("GET", 2):
            switch store.values[arguments[1]] {
            case .string(let value)?: bulk(value, into: &out)
            case nil: out.writeString("$-1\r\n")
            default: wrongType(into: &out)
            }
        case ("INCR", 2):
            var current = 0
            if case .string(let value)? = store.values[arguments[1]] { current = Int(String(buffer: value)) ?? 0 }
            current += 1
            var value = ByteBufferAllocator().buffer(capacity: 20)
            value.writeString(String(current))
            store.values[arguments[1]] = .string(value)
            out.writeString(":\(current)\r\n")
        case ("LPUSH", 3...):
            let list: Store.List
            switch store.values[arguments[1]] {
            case .list(let existing)?: list = existing
            case nil:
                list = Store.List()
                store.values[arguments[1]] = .list(list)
            default: return wrongType(into: &out)
            }
            for value in arguments.dropFirst(2) { list.items.prepend(value) }
            out.writeString(":\(list.items.count)\r\n")
        case ("LPOP", 2):
            switch store.values[arguments[1]] {
            case .list(let list)?:
                bulk(list.items.removeFirst(), into: &out)
                if list.items.isEmpty { store.values[arguments[1]] = nil }
            case nil: out.writeString("$-1\r\n")
            default: wrongType(into: &out)
            }
        case ("CONFIG", 3):
            // What redis-benchmark asks at start (CONFIG GET save, CONFIG GET appendonly): the
            // values of a server that saves nothing, as reactor-redis answers.
            let parameter = String(buffer: arguments[2]).lowercased()
            switch parameter {
            case "save": out.writeString("*2\r\n$4\r\nsave\r\n$0\r\n\r\n")
            case "appendonly": out.writeString("*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n")
            default: out.writeString("*0\r\n")
            }
        default:
            out.writeString("-ERR unknown command '\(name)'\r\n")
        }
    }

    private func bulk(_ value: ByteBuffer, into out: inout ByteBuffer) {
        out.writeString("$\(value.readableBytes)\r\n")
        out.writeImmutableBuffer(value)
        out.writeString("\r\n")
    }

    private func wrongType(into out: inout ByteBuffer) {
        out.writeString("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    }
}
