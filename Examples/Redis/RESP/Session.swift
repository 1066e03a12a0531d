import Glibc

/// One connection's side of the protocol: parses the requests buffered, runs each against the
/// database, and collects their replies, so a batch of pipelined requests is answered in one
/// write.
public struct Session: Sendable {
    /// Why `handle` stopped.
    public enum Stop: Equatable, Sendable {
        /// The next request has not fully arrived.
        case needMore
        /// The replies reached `replyBudget`: send them, let them drain, then go on.
        case replyBudget
        /// QUIT, or a protocol error (its reply is the last): send the replies, then close.
        case close
    }

    /// How many bytes of replies a batch collects before it stops to send them: a client that
    /// pipelines without reading holds at most about this much of the server's memory (with
    /// what the writer may queue), whatever it sends.
    public static let replyBudget = 256 * 1024

    public var reply = Reply()
    public var client: ClientState
    private var parser = RequestParser()
    /// The last command's name, as sent, and the command.
    private var commandName: [UInt8] = []
    private var lastCommand: Commands.Command?

    public init(client: ClientState) {
        self.client = client
        commandName.reserveCapacity(32)
    }

    /// Handles the complete requests at the front of `bytes`, until one is incomplete, the
    /// replies reach `replyBudget`, or the connection must close. Returns how many bytes it
    /// used (after `.needMore`, up to where the incomplete request starts: give it the same
    /// bytes, and more, next time).
    public mutating func handle(_ bytes: UnsafeRawBufferPointer, database: Database) -> (consumed: Int, stop: Stop) {
        var offset = 0
        while true {
            if reply.count >= Self.replyBudget { return (offset, .replyBudget) }
            switch parser.parse(bytes, from: offset) {
            case .needMore:
                return (offset, .needMore)
            case .empty(let length):
                offset += length
            case .error(let message):
                reply.error("ERR Protocol error: \(message)")
                return (bytes.count, .close)
            case .request(let length):
                if parser.isInline {
                    parser.inlineStorage.withUnsafeBytes { storage in
                        run(Arguments(base: storage.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, ranges: parser.arguments), database)
                    }
                } else {
                    run(Arguments(base: bytes.baseAddress! + offset, ranges: parser.arguments), database)
                }
                offset += length
                if client.quitting { return (offset, .close) }
            }
        }
    }

    private mutating func run(_ arguments: Arguments, _ database: Database) {
        let name = arguments[0]
        guard let command = lookUp(name) else { return unknownCommand(arguments) }
        guard command.arity > 0 ? arguments.count == command.arity : arguments.count >= -command.arity else {
            return reply.error("ERR wrong number of arguments for '\(command.name)' command")
        }
        command.run(database, arguments, &reply, &client)
    }

    /// The command called `name` (in any case). A connection mostly repeats its command, so
    /// the last one is kept and compared first, before a lookup in the table.
    private mutating func lookUp(_ name: UnsafeRawBufferPointer) -> Commands.Command? {
        guard name.count > 0 && name.count <= 32 else { return nil }
        if let last = lastCommand, name.count == commandName.count,
            commandName.withUnsafeBytes({ memcmp($0.baseAddress!, name.baseAddress!, name.count) == 0 })
        {
            return last
        }
        commandName.removeAll(keepingCapacity: true)
        for byte in name { commandName.append(byte >= 65 && byte <= 90 ? byte | 0x20 : byte) }
        let command = commandName.withUnsafeBytes { Commands.table[Key.borrowing($0)] }
        // Kept with the name as sent, so the next request with the same bytes skips the table.
        commandName.removeAll(keepingCapacity: true)
        commandName.append(contentsOf: name)
        lastCommand = command
        return command
    }

    /// Redis's text: the name (at most 128 bytes) and the first arguments (128 bytes of them).
    private mutating func unknownCommand(_ arguments: Arguments) {
        var listed = ""
        var index = 1
        while index < arguments.count && listed.utf8.count < 128 {
            let room = 128 - listed.utf8.count
            listed += "'\(String(decoding: arguments[index].prefix(room), as: UTF8.self))' "
            index += 1
        }
        let name = String(decoding: arguments[0].prefix(128), as: UTF8.self)
        reply.error("ERR unknown command '\(name)', with args beginning with: \(listed)")
    }
}
