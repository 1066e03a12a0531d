import HTTPTypes
import ReactorHTTP

/// One input: bytes a client (or a server, for the response parser) sent. The first byte
/// says where the bytes split, as across two receives. Request heads are parsed in batches
/// as a connection does, each head's body is decoded when chunked, and a response head is
/// parsed from the same bytes; every offset a parser reports must lie within what it was given.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let split = min(Int(data[0]) * input.count / 255, input.count)
    var parser = HeadParser(maxHeadSize: 4096, maxFieldCount: 32)
    var start = 0
    for end in [split, input.count] {
        let bytes = UnsafeRawBufferPointer(rebasing: input[0..<end])
        while start < end {
            switch parser.parseRequest(bytes, from: start) {
            case .needMore:
                break
            case .error:
                return 0
            case .head(let head):
                precondition(head.length > 0 && start + head.length <= end, "a head past the bytes")
                precondition(head.target.lowerBound >= start && head.target.upperBound <= start + head.length, "a target outside its head")
                for index in head.fields {
                    let field = parser.fields[index]
                    precondition(field.name.lowerBound >= start && field.value.upperBound <= start + head.length, "a field outside its head")
                    precondition(!field.name.isEmpty, "a field without a name")
                }
                start += head.length
                if head.body == .chunked {
                    start += decodeChunked(UnsafeRawBufferPointer(rebasing: bytes[start...]))
                } else if case .length(let length) = head.body {
                    start += min(length, end - start)
                }
                parser.removeAllFields()
                continue
            }
            break
        }
    }
    var responses = HeadParser()
    if case .head(let head) = responses.parseResponse(input, from: 0, method: .get) {
        precondition(head.length <= input.count && head.reason.upperBound <= head.length, "a response head past the bytes")
        precondition((100...999).contains(head.status), "a status of \(head.status)")
    }
    return 0
}

/// Decodes a chunked body, a few bytes of data at a time: how many bytes it used.
private func decodeChunked(_ bytes: UnsafeRawBufferPointer) -> Int {
    var decoder = ChunkedDecoder()
    var offset = 0
    while true {
        switch decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[offset...]), maxData: 7) {
        case .data(let range, let consumed):
            precondition(range.count <= 7 && range.upperBound <= consumed && offset + consumed <= bytes.count, "data past the bytes")
            offset += consumed
        case .needMore(let consumed), .end(let consumed):
            precondition(offset + consumed <= bytes.count, "consumed past the bytes")
            return offset + consumed
        case .error:
            return offset
        }
    }
}
