import DequeModule

/// What a connection keeps between its requests.
public struct ClientState: Sendable {
    public let id: Int
    public var name: [UInt8]?
    /// Set by QUIT: the connection closes once the replies are out.
    public var quitting = false

    public init(id: Int) { self.id = id }
}

/// The commands: Redis's names, arities and replies (the subset `reactor-redis` serves).
enum Commands {
    typealias Run = @Sendable (Database, Arguments, inout Reply, inout ClientState) -> Void

    struct Command: Sendable {
        /// Redis's name for it in errors (lower case).
        let name: String
        /// As Redis's: n exactly (the name included), or -n at least n.
        let arity: Int
        let run: Run
    }

    static let table: [Key: Command] = {
        var table: [Key: Command] = [:]
        for command in all { table[Key(Array(command.name.utf8))] = command }
        return table
    }()

    static let wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
    static let notInteger = "ERR value is not an integer or out of range"
    static let notFloat = "ERR value is not a valid float"
    static let syntax = "ERR syntax error"
    static let overflow = "ERR increment or decrement would overflow"
    static let notPositive = "ERR value is out of range, must be positive"

    static let all: [Command] = [
        Command(name: "ping", arity: -1, run: ping),
        Command(name: "echo", arity: 2) { _, arguments, reply, _ in reply.bulk(arguments[1]) },
        Command(name: "set", arity: -3, run: set),
        Command(name: "get", arity: 2, run: get),
        Command(name: "getset", arity: 3, run: getset),
        Command(name: "del", arity: -2) { db, arguments, reply, _ in
            reply.integer((1..<arguments.count).reduce(0) { $0 + (db.remove(arguments.key($1)) ? 1 : 0) })
        },
        Command(name: "exists", arity: -2) { db, arguments, reply, _ in
            reply.integer((1..<arguments.count).reduce(0) { $0 + (db.index(of: arguments.key($1)) != nil ? 1 : 0) })
        },
        Command(name: "incr", arity: 2) { db, arguments, reply, _ in increment(db, arguments, &reply, by: 1) },
        Command(name: "decr", arity: 2) { db, arguments, reply, _ in increment(db, arguments, &reply, by: -1) },
        Command(name: "incrby", arity: 3) { db, arguments, reply, _ in
            guard let by = arguments.integer(2) else { return reply.error(notInteger) }
            increment(db, arguments, &reply, by: by)
        },
        Command(name: "decrby", arity: 3) { db, arguments, reply, _ in
            guard let by = arguments.integer(2), by != .min else { return reply.error(notInteger) }
            increment(db, arguments, &reply, by: -by)
        },
        Command(name: "append", arity: 3, run: append),
        Command(name: "strlen", arity: 2) { db, arguments, reply, _ in
            switch db.value(arguments.key(1)) {
            case nil: reply.integer(0)
            case .string(let bytes): reply.integer(bytes.count)
            default: reply.error(wrongType)
            }
        },
        Command(name: "mset", arity: -3) { db, arguments, reply, _ in
            guard arguments.count % 2 == 1 else { return reply.error("ERR wrong number of arguments for 'mset' command") }
            for index in stride(from: 1, to: arguments.count, by: 2) { db.set(arguments.key(index), .string(arguments.bytes(index + 1))) }
            reply.ok()
        },
        Command(name: "mget", arity: -2) { db, arguments, reply, _ in
            reply.arrayHeader(arguments.count - 1)
            for index in 1..<arguments.count {
                if case .string(let bytes) = db.value(arguments.key(index)) { reply.bulk(bytes) } else { reply.null() }
            }
        },
        Command(name: "expire", arity: -3) { db, arguments, reply, _ in expire(db, arguments, &reply, unit: 1000) },
        Command(name: "pexpire", arity: -3) { db, arguments, reply, _ in expire(db, arguments, &reply, unit: 1) },
        Command(name: "ttl", arity: 2) { db, arguments, reply, _ in timeToLive(db, arguments, &reply, unit: 1000) },
        Command(name: "pttl", arity: 2) { db, arguments, reply, _ in timeToLive(db, arguments, &reply, unit: 1) },
        Command(name: "persist", arity: 2) { db, arguments, reply, _ in
            let key = arguments.key(1)
            reply.integer(db.index(of: key) != nil && db.persist(key) ? 1 : 0)
        },
        Command(name: "lpush", arity: -3) { db, arguments, reply, _ in push(db, arguments, &reply, front: true) },
        Command(name: "rpush", arity: -3) { db, arguments, reply, _ in push(db, arguments, &reply, front: false) },
        Command(name: "lpop", arity: -2) { db, arguments, reply, _ in pop(db, arguments, &reply, front: true) },
        Command(name: "rpop", arity: -2) { db, arguments, reply, _ in pop(db, arguments, &reply, front: false) },
        Command(name: "lrange", arity: 4, run: lrange),
        Command(name: "llen", arity: 2, run: size(of: ListValue.self)),
        Command(name: "sadd", arity: -3) { db, arguments, reply, _ in
            guard let set = collection(SetValue.self, db, arguments.key(1), creating: true, &reply) else { return }
            var added = 0
            for index in 2..<arguments.count where !set.members.contains(arguments.key(index)) {
                set.members.insert(Key(arguments.bytes(index)))
                added += 1
            }
            reply.integer(added)
        },
        Command(name: "srem", arity: -3) { db, arguments, reply, _ in
            let key = arguments.key(1)
            guard let set = collection(SetValue.self, db, key, &reply, ifMissing: { $0.integer(0) }) else { return }
            let removed = (2..<arguments.count).reduce(0) { $0 + (set.members.remove(arguments.key($1)) != nil ? 1 : 0) }
            if set.members.isEmpty { db.remove(key) }
            reply.integer(removed)
        },
        Command(name: "smembers", arity: 2) { db, arguments, reply, _ in
            switch db.value(arguments.key(1)) {
            case nil: reply.arrayHeader(0)
            case .set(let set):
                reply.arrayHeader(set.members.count)
                for member in set.members { member.withBytes { reply.bulk($0) } }
            default: reply.error(wrongType)
            }
        },
        Command(name: "sismember", arity: 3) { db, arguments, reply, _ in
            switch db.value(arguments.key(1)) {
            case nil: reply.integer(0)
            case .set(let set): reply.integer(set.members.contains(arguments.key(2)) ? 1 : 0)
            default: reply.error(wrongType)
            }
        },
        Command(name: "spop", arity: -2, run: spop),
        Command(name: "scard", arity: 2, run: size(of: SetValue.self)),
        Command(name: "hset", arity: -4) { db, arguments, reply, _ in
            guard arguments.count % 2 == 0 else { return reply.error("ERR wrong number of arguments for 'hset' command") }
            guard let hash = collection(HashValue.self, db, arguments.key(1), creating: true, &reply) else { return }
            var added = 0
            for index in stride(from: 2, to: arguments.count, by: 2) {
                let field = arguments.key(index)
                if let position = hash.fields.index(forKey: field) {
                    hash.fields.values[position] = arguments.bytes(index + 1)
                } else {
                    hash.fields[field.owned] = arguments.bytes(index + 1)
                    added += 1
                }
            }
            reply.integer(added)
        },
        Command(name: "hget", arity: 3) { db, arguments, reply, _ in
            switch db.value(arguments.key(1)) {
            case nil: reply.null()
            case .hash(let hash):
                if let value = hash.fields[arguments.key(2)] { reply.bulk(value) } else { reply.null() }
            default: reply.error(wrongType)
            }
        },
        Command(name: "hdel", arity: -3) { db, arguments, reply, _ in
            let key = arguments.key(1)
            guard let hash = collection(HashValue.self, db, key, &reply, ifMissing: { $0.integer(0) }) else { return }
            let removed = (2..<arguments.count).reduce(0) { $0 + (hash.fields.removeValue(forKey: arguments.key($1)) != nil ? 1 : 0) }
            if hash.fields.isEmpty { db.remove(key) }
            reply.integer(removed)
        },
        Command(name: "hgetall", arity: 2) { db, arguments, reply, _ in
            switch db.value(arguments.key(1)) {
            case nil: reply.arrayHeader(0)
            case .hash(let hash):
                reply.arrayHeader(hash.fields.count * 2)
                for (field, value) in hash.fields {
                    field.withBytes { reply.bulk($0) }
                    reply.bulk(value)
                }
            default: reply.error(wrongType)
            }
        },
        Command(name: "hlen", arity: 2, run: size(of: HashValue.self)),
        Command(name: "zadd", arity: -4, run: zadd),
        Command(name: "zrange", arity: -4, run: zrange),
        Command(name: "zpopmin", arity: -2, run: zpopmin),
        Command(name: "zcard", arity: 2, run: size(of: SortedSetValue.self)),
        Command(name: "dbsize", arity: 1) { db, _, reply, _ in reply.integer(db.count) },
        Command(name: "flushall", arity: -1, run: flush),
        Command(name: "flushdb", arity: -1, run: flush),
        Command(name: "select", arity: 2) { _, arguments, reply, _ in
            guard let index = arguments.integer(1) else { return reply.error(notInteger) }
            if index == 0 { reply.ok() } else { reply.error("ERR DB index is out of range") }
        },
        Command(name: "command", arity: -1) { _, arguments, reply, _ in
            if arguments.count > 1 && arguments.matches(1, "count") { reply.integer(0) } else { reply.arrayHeader(0) }
        },
        Command(name: "config", arity: -2) { _, arguments, reply, _ in
            if arguments.matches(1, "get") {
                guard arguments.count >= 3 else { return reply.error("ERR wrong number of arguments for 'config|get' command") }
                // What redis-benchmark asks at start; nothing is saved, as redis-server --save ''.
                let known: [(StaticString, String, String)] = [("save", "save", ""), ("appendonly", "appendonly", "no")]
                let found = known.filter { entry in (2..<arguments.count).contains { arguments.matches($0, entry.0) } }
                reply.arrayHeader(found.count * 2)
                for (_, name, value) in found {
                    reply.bulk(name)
                    reply.bulk(value)
                }
            } else if arguments.matches(1, "set") || arguments.matches(1, "resetstat") {
                reply.ok()
            } else {
                reply.error("ERR unknown subcommand '\(arguments.text(1))'. Try CONFIG HELP.")
            }
        },
        Command(name: "info", arity: -1) { db, _, reply, client in
            reply.bulk(
                "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmultiplexing_api:epoll\r\n\r\n"
                    + "# Keyspace\r\n" + (db.count > 0 ? "db0:keys=\(db.count),expires=\(db.expiringCount),avg_ttl=0\r\n" : ""))
        },
        Command(name: "client", arity: -2, run: client),
        Command(name: "hello", arity: -1, run: hello),
        Command(name: "quit", arity: -1) { _, _, reply, client in
            client.quitting = true
            reply.ok()
        },
    ]

    // MARK: - Collections

    /// The collection of kind `Box` at `key`, or nil once the reply says why: WRONGTYPE when
    /// the key holds another kind, and what `missing` replies when it holds nothing. With
    /// `creating`, a missing one is made and stored instead.
    static func collection<Box: CollectionBox>(
        _ kind: Box.Type, _ db: Database, _ key: Key, creating: Bool = false, _ reply: inout Reply,
        ifMissing missing: (inout Reply) -> Void = { _ in }
    ) -> Box? {
        guard let value = db.value(key) else {
            guard creating else {
                missing(&reply)
                return nil
            }
            let box = Box()
            db.set(key, box.value)
            return box
        }
        guard let box = Box.unwrap(value) else {
            reply.error(wrongType)
            return nil
        }
        return box
    }

    enum Count {
        case valid(Int?)
        case invalid
    }

    /// The optional count of LPOP, RPOP and SPOP (their third argument): nil when absent;
    /// `.invalid`, with the error replied, when it is not a non-negative integer.
    static func optionalCount(_ arguments: Arguments, _ reply: inout Reply) -> Count {
        guard arguments.count == 3 else { return .valid(nil) }
        guard let count = arguments.integer(2), count >= 0 else {
            reply.error(notPositive)
            return .invalid
        }
        return .valid(count)
    }

    /// LLEN, SCARD, HLEN and ZCARD: the size of the collection at the key, 0 when there is none.
    static func size<Box: CollectionBox>(of kind: Box.Type) -> Run {
        { db, arguments, reply, _ in
            guard let box = collection(kind, db, arguments.key(1), &reply, ifMissing: { $0.integer(0) }) else { return }
            reply.integer(box.count)
        }
    }

    // MARK: - Strings

    static func ping(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        switch arguments.count {
        case 1: reply.simple("PONG")
        case 2: reply.bulk(arguments[1])
        default: reply.error("ERR wrong number of arguments for 'ping' command")
        }
    }

    static func get(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        switch db.value(arguments.key(1)) {
        case nil: reply.null()
        case .string(let bytes): reply.bulk(bytes)
        default: reply.error(wrongType)
        }
    }

    static func set(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        var onlyIfAbsent = false
        var onlyIfPresent = false
        var returnOld = false
        var keepTTL = false
        var ttl: Int?
        var index = 3
        while index < arguments.count {
            let hasNext = index + 1 < arguments.count
            if arguments.matches(index, "nx") && !onlyIfPresent {
                onlyIfAbsent = true
            } else if arguments.matches(index, "xx") && !onlyIfAbsent {
                onlyIfPresent = true
            } else if arguments.matches(index, "get") {
                returnOld = true
            } else if arguments.matches(index, "keepttl") && ttl == nil {
                keepTTL = true
            } else if (arguments.matches(index, "ex") || arguments.matches(index, "px")) && hasNext && ttl == nil && !keepTTL {
                guard let amount = arguments.integer(index + 1) else { return reply.error(notInteger) }
                guard amount > 0 else { return reply.error("ERR invalid expire time in 'set' command") }
                let (milliseconds, overflow) = amount.multipliedReportingOverflow(by: arguments.matches(index, "ex") ? 1000 : 1)
                guard !overflow else { return reply.error("ERR invalid expire time in 'set' command") }
                ttl = milliseconds
                index += 1
            } else {
                return reply.error(syntax)
            }
            index += 1
        }
        let key = arguments.key(1)
        let old = db.value(key)
        if returnOld, let old {
            guard case .string = old else { return reply.error(wrongType) }
        }
        let proceed = onlyIfAbsent ? old == nil : onlyIfPresent ? old != nil : true
        var deadline: Int64?
        if let ttl {
            let (sum, overflow) = db.currentTime.addingReportingOverflow(Int64(ttl))
            guard !overflow else { return reply.error("ERR invalid expire time in 'set' command") }
            deadline = sum
        }
        if proceed {
            db.set(key, .string(arguments.bytes(2)), keepingExpiry: keepTTL)
            if let deadline { db.expire(key, at: deadline) }
        }
        if returnOld {
            if case .string(let bytes) = old { reply.bulk(bytes) } else { reply.null() }
        } else if proceed {
            reply.ok()
        } else {
            reply.null()
        }
    }

    static func getset(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        let key = arguments.key(1)
        let old = db.value(key)
        switch old {
        case nil: reply.null()
        case .string(let bytes): reply.bulk(bytes)
        default: return reply.error(wrongType)
        }
        db.set(key, .string(arguments.bytes(2)))
    }

    static func increment(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, by amount: Int) {
        let key = arguments.key(1)
        var current = 0
        switch db.value(key) {
        case nil: break
        case .string(let bytes):
            guard let value = bytes.withUnsafeBytes({ integer($0) }) else { return reply.error(notInteger) }
            current = value
        default: return reply.error(wrongType)
        }
        let (result, overflow) = current.addingReportingOverflow(amount)
        guard !overflow else { return reply.error(Commands.overflow) }
        db.set(key, .string(Array(String(result).utf8)), keepingExpiry: true)
        reply.integer(result)
    }

    static func append(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        let key = arguments.key(1)
        guard let index = db.index(of: key) else {
            db.set(key, .string(arguments.bytes(2)))
            return reply.integer(arguments[2].count)
        }
        guard case .string(var bytes) = db.values.values[index] else { return reply.error(wrongType) }
        db.values.values[index] = .string([])  // so that `bytes` is the only reference and grows in place
        bytes.append(contentsOf: arguments[2])
        reply.integer(bytes.count)
        db.values.values[index] = .string(bytes)
    }

    // MARK: - Expiry

    static func expire(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, unit: Int) {
        guard let amount = arguments.integer(2) else { return reply.error(notInteger) }
        var onlyIfNone = false
        var onlyIfSome = false
        for index in 3..<max(3, arguments.count) {
            if arguments.matches(index, "nx") { onlyIfNone = true } else if arguments.matches(index, "xx") { onlyIfSome = true } else {
                return reply.error("ERR Unsupported option \(arguments.text(index))")
            }
        }
        let key = arguments.key(1)
        guard db.index(of: key) != nil else { return reply.integer(0) }
        let hasTTL = db.timeToLive(key) != nil
        if (onlyIfNone && hasTTL) || (onlyIfSome && !hasTTL) { return reply.integer(0) }
        let (milliseconds, overflow) = amount.multipliedReportingOverflow(by: unit)
        let (deadline, overflowAgain) = db.currentTime.addingReportingOverflow(Int64(milliseconds))
        guard !overflow && !overflowAgain else { return reply.error("ERR invalid expire time in '\(unit == 1 ? "pexpire" : "expire")' command") }
        if milliseconds <= 0 {
            db.remove(key)
        } else {
            db.expire(key, at: deadline)
        }
        reply.integer(1)
    }

    static func timeToLive(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, unit: Int64) {
        let key = arguments.key(1)
        guard db.index(of: key) != nil else { return reply.integer(-2) }
        guard let milliseconds = db.timeToLive(key) else { return reply.integer(-1) }
        reply.integer(Int(unit == 1 ? milliseconds : (milliseconds + 500) / 1000))
    }

    // MARK: - Lists

    static func push(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, front: Bool) {
        guard let list = collection(ListValue.self, db, arguments.key(1), creating: true, &reply) else { return }
        for index in 2..<arguments.count {
            if front { list.items.prepend(arguments.bytes(index)) } else { list.items.append(arguments.bytes(index)) }
        }
        reply.integer(list.items.count)
    }

    static func pop(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, front: Bool) {
        guard arguments.count <= 3 else { return reply.error("ERR wrong number of arguments for '\(front ? "lpop" : "rpop")' command") }
        guard case .valid(let count) = optionalCount(arguments, &reply) else { return }
        let key = arguments.key(1)
        guard let list = collection(ListValue.self, db, key, &reply, ifMissing: { count == nil ? $0.null() : $0.nullArray() }) else { return }
        guard let count else {
            reply.bulk((front ? list.items.popFirst() : list.items.popLast())!)
            if list.items.isEmpty { db.remove(key) }
            return
        }
        let taken = min(count, list.items.count)
        reply.arrayHeader(taken)
        for _ in 0..<taken { reply.bulk((front ? list.items.popFirst() : list.items.popLast())!) }
        if list.items.isEmpty { db.remove(key) }
    }

    /// Redis's range of [start, stop] over `count` elements, negative indices from the end.
    static func range(_ start: Int, _ stop: Int, count: Int) -> Range<Int> {
        var start = start < 0 ? count + start : start
        var stop = stop < 0 ? count + stop : stop
        if start < 0 { start = 0 }
        if start > stop || start >= count { return 0..<0 }
        if stop >= count { stop = count - 1 }
        return start..<(stop + 1)
    }

    static func lrange(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        guard let start = arguments.integer(2), let stop = arguments.integer(3) else { return reply.error(notInteger) }
        switch db.value(arguments.key(1)) {
        case nil: reply.arrayHeader(0)
        case .list(let list):
            let indices = range(start, stop, count: list.items.count)
            reply.arrayHeader(indices.count)
            for index in indices { reply.bulk(list.items[index]) }
        default: reply.error(wrongType)
        }
    }

    // MARK: - Sets and hashes

    static func spop(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        guard arguments.count <= 3 else { return reply.error(syntax) }
        guard case .valid(let count) = optionalCount(arguments, &reply) else { return }
        let key = arguments.key(1)
        guard let set = collection(SetValue.self, db, key, &reply, ifMissing: { count == nil ? $0.null() : $0.arrayHeader(0) }) else { return }
        let taken = min(count ?? 1, set.members.count)
        if count != nil { reply.arrayHeader(taken) }
        for _ in 0..<taken {
            let member = set.members.randomElement()!
            set.members.remove(member)
            member.withBytes { reply.bulk($0) }
        }
        if set.members.isEmpty { db.remove(key) }
    }

    // MARK: - Sorted sets

    static func zadd(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        var index = 2
        var onlyNew = false
        var onlyExisting = false
        var countChanged = false
        while index < arguments.count {
            if arguments.matches(index, "nx") { onlyNew = true } else if arguments.matches(index, "xx") { onlyExisting = true } else if arguments.matches(index, "ch") {
                countChanged = true
            } else { break }
            index += 1
        }
        let pairs = arguments.count - index
        guard pairs > 0 && pairs % 2 == 0 else { return reply.error(syntax) }
        guard !(onlyNew && onlyExisting) else { return reply.error("ERR XX and NX options at the same time are not compatible") }
        var scores: [Double] = []
        for position in stride(from: index, to: arguments.count, by: 2) {
            guard let score = arguments.double(position) else { return reply.error(notFloat) }
            scores.append(score)
        }
        let key = arguments.key(1)
        guard let set = collection(SortedSetValue.self, db, key, creating: !onlyExisting, &reply, ifMissing: { $0.integer(0) }) else { return }
        var changed = 0
        for (offset, position) in stride(from: index, to: arguments.count, by: 2).enumerated() {
            let member = arguments.key(position + 1)
            let old = set.scores[member]
            if (onlyNew && old != nil) || (onlyExisting && old == nil) { continue }
            let added = set.set(member, score: scores[offset])
            if added || (countChanged && old != scores[offset]) { changed += 1 }
        }
        if set.scores.isEmpty { db.remove(key) }
        reply.integer(changed)
    }

    static func zrange(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        var withScores = false
        for index in 4..<max(4, arguments.count) {
            guard arguments.matches(index, "withscores") else { return reply.error(syntax) }
            withScores = true
        }
        guard let start = arguments.integer(2), let stop = arguments.integer(3) else { return reply.error(notInteger) }
        guard let set = collection(SortedSetValue.self, db, arguments.key(1), &reply, ifMissing: { $0.arrayHeader(0) }) else { return }
        let indices = range(start, stop, count: set.ordered.count)
        reply.arrayHeader(indices.count * (withScores ? 2 : 1))
        for index in indices {
            let entry = set.ordered[index]
            entry.member.withBytes { reply.bulk($0) }
            if withScores { reply.bulk(score: entry.score) }
        }
    }

    static func zpopmin(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        guard arguments.count <= 3 else { return reply.error(syntax) }
        var count = 1
        if arguments.count == 3 {
            guard let value = arguments.integer(2) else { return reply.error(notInteger) }
            guard value >= 0 else { return reply.error(notPositive) }
            count = value
        }
        let key = arguments.key(1)
        guard let set = collection(SortedSetValue.self, db, key, &reply, ifMissing: { $0.arrayHeader(0) }) else { return }
        let taken = min(count, set.ordered.count)
        reply.arrayHeader(taken * 2)
        for _ in 0..<taken {
            let entry = set.popFirst()!
            entry.member.withBytes { reply.bulk($0) }
            reply.bulk(score: entry.score)
        }
        if set.scores.isEmpty { db.remove(key) }
    }

    // MARK: - Server and connection

    static func flush(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        guard arguments.count == 1 || (arguments.count == 2 && (arguments.matches(1, "async") || arguments.matches(1, "sync"))) else {
            return reply.error(syntax)
        }
        db.removeAll()
        reply.ok()
    }

    static func client(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        if arguments.matches(1, "setname") {
            guard arguments.count == 3 else { return reply.error("ERR wrong number of arguments for 'client|setname' command") }
            guard !arguments[2].contains(where: { $0 <= 32 || $0 > 126 }) else {
                return reply.error("ERR Client names cannot contain spaces, newlines or special characters.")
            }
            client.name = arguments[2].isEmpty ? nil : arguments.bytes(2)
            reply.ok()
        } else if arguments.matches(1, "getname") {
            if let name = client.name { reply.bulk(name) } else { reply.null() }
        } else if arguments.matches(1, "setinfo") {
            guard arguments.count == 4 else { return reply.error("ERR wrong number of arguments for 'client|setinfo' command") }
            reply.ok()
        } else if arguments.matches(1, "id") {
            reply.integer(client.id)
        } else {
            reply.error("ERR unknown subcommand '\(arguments.text(1))'. Try CLIENT HELP.")
        }
    }

    static func hello(_ db: Database, _ arguments: Arguments, _ reply: inout Reply, _ client: inout ClientState) {
        if arguments.count > 1 {
            guard let version = arguments.integer(1) else { return reply.error("ERR Protocol version is not an integer or out of range") }
            guard version == 2 else { return reply.error("NOPROTO unsupported protocol version") }
        }
        reply.arrayHeader(14)
        for (field, value) in [("server", "redis"), ("version", "7.0.15")] {
            reply.bulk(field)
            reply.bulk(value)
        }
        reply.bulk("proto")
        reply.integer(2)
        reply.bulk("id")
        reply.integer(client.id)
        for (field, value) in [("mode", "standalone"), ("role", "master")] {
            reply.bulk(field)
            reply.bulk(value)
        }
        reply.bulk("modules")
        reply.arrayHeader(0)
    }
}
