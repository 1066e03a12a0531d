/// The arguments of one request, where they lie (valid while the request's bytes are).
public struct Arguments {
    let base: UnsafeRawPointer
    let ranges: [(offset: Int, count: Int)]

    init(base: UnsafeRawPointer, ranges: [(offset: Int, count: Int)]) {
        self.base = base
        self.ranges = ranges
    }

    public var count: Int { ranges.count }

    public subscript(index: Int) -> UnsafeRawBufferPointer {
        let range = ranges[index]
        return UnsafeRawBufferPointer(start: base + range.offset, count: range.count)
    }

    /// Argument `index` as a key for a lookup.
    func key(_ index: Int) -> Key { Key.borrowing(self[index]) }

    /// Argument `index`, copied.
    func bytes(_ index: Int) -> [UInt8] { [UInt8](self[index]) }

    func text(_ index: Int) -> String { String(decoding: self[index], as: UTF8.self) }

    /// Whether argument `index` is `word`, ignoring ASCII case (`word` in lower case).
    func matches(_ index: Int, _ word: StaticString) -> Bool {
        let argument = self[index]
        guard argument.count == word.utf8CodeUnitCount else { return false }
        return word.withUTF8Buffer { word in
            for offset in 0..<word.count where argument[offset] | 0x20 != word[offset] | 0x20 { return false }
            return true
        }
    }

    func integer(_ index: Int) -> Int? { RESP.integer(self[index]) }

    /// A double as Redis reads one (strtod, and `inf` / `-inf` / `+inf`); nil for NaN or junk.
    func double(_ index: Int) -> Double? {
        let text = self.text(index).lowercased()
        switch text {
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default:
            guard let value = Double(text), !value.isNaN, !text.isEmpty, text.first != " " else { return nil }
            return value
        }
    }
}
