import RESP

/// One input: bytes a client sent. They are handed to a session in two pieces (the first byte
/// says where the first ends), as a request split across receives is, against a fresh
/// database; every request is run, and every reply must be well framed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let split = min(Int(data[0]) * input.count / 255, input.count)
    let database = Database(clock: { 1_000_000 })
    var session = Session(client: ClientState(id: 1))
    var start = 0
    for end in [split, input.count] {
        while true {
            let (consumed, stop) = session.handle(UnsafeRawBufferPointer(rebasing: input[start..<end]), database: database)
            precondition(consumed >= 0 && start + consumed <= end, "consumed past the bytes given")
            start += consumed
            checkFraming(session.reply.bytes)
            session.reply.removeAll()
            if stop == .close { return 0 }
            if stop == .needMore { break }
        }
    }
    database.sweep()
    return 0
}

/// Every reply starts with a RESP type byte and ends with CRLF.
private func checkFraming(_ replies: [UInt8]) {
    guard let first = replies.first else { return }
    precondition([UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "$"), UInt8(ascii: "*")].contains(first), "a reply without a type")
    precondition(replies.suffix(2) == [13, 10], "a reply without its CRLF")
}
