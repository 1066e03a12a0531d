import Glibc
import DequeModule

/// A key, or a hash field or set member: bytes compared and hashed as bytes. A lookup
/// borrows the bytes of the request it came in (no copy, no allocation); only what is stored
/// owns its bytes.
public struct Key: Hashable, @unchecked Sendable {
    private enum Storage {
        case owned([UInt8])
        case borrowed(UnsafeRawBufferPointer)
    }

    private let storage: Storage

    public init(_ bytes: [UInt8]) { storage = .owned(bytes) }

    /// A key over `bytes` for a lookup only: it must not be stored, nor outlive `bytes`.
    public static func borrowing(_ bytes: UnsafeRawBufferPointer) -> Key { Key(storage: .borrowed(bytes)) }

    private init(storage: Storage) { self.storage = storage }

    /// A key that owns its bytes (a copy, for a borrowed one).
    public var owned: Key {
        if case .borrowed(let bytes) = storage { return Key([UInt8](bytes)) }
        return self
    }

    @inline(__always)
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch storage {
        case .owned(let bytes): try bytes.withUnsafeBytes(body)
        case .borrowed(let bytes): try body(bytes)
        }
    }

    public static func == (left: Key, right: Key) -> Bool {
        left.withBytes { a in right.withBytes { b in a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) } }
    }

    public func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
    }

    /// Byte order, as Redis orders members of equal score.
    static func < (left: Key, right: Key) -> Bool {
        left.withBytes { a in
            right.withBytes { b in
                let common = min(a.count, b.count)
                let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
                return order != 0 ? order < 0 : a.count < b.count
            }
        }
    }
}

/// What a key holds. The collections live in boxes, so a command changes them in place.
enum Value {
    case string([UInt8])
    case list(ListValue)
    case hash(HashValue)
    case set(SetValue)
    case sortedSet(SortedSetValue)
}

/// A collection's box, and how it is held in a ``Value``.
protocol CollectionBox: AnyObject, SendableMetatype {
    init()
    /// Its elements (members, fields) count.
    var count: Int { get }
    var value: Value { get }
    static func unwrap(_ value: Value) -> Self?
}

// The boxes and the database are used on one loop thread: their stored properties skip the
// runtime's exclusivity checks, which a lookup per request would otherwise pay.
final class ListValue: CollectionBox {
    @exclusivity(unchecked) var items = Deque<[UInt8]>()
    var count: Int { items.count }
    var value: Value { .list(self) }
    static func unwrap(_ value: Value) -> ListValue? { if case .list(let list) = value { list } else { nil } }
}

final class HashValue: CollectionBox {
    @exclusivity(unchecked) var fields: [Key: [UInt8]] = [:]
    var count: Int { fields.count }
    var value: Value { .hash(self) }
    static func unwrap(_ value: Value) -> HashValue? { if case .hash(let hash) = value { hash } else { nil } }
}

final class SetValue: CollectionBox {
    @exclusivity(unchecked) var members = Set<Key>()
    var count: Int { members.count }
    var value: Value { .set(self) }
    static func unwrap(_ value: Value) -> SetValue? { if case .set(let set) = value { set } else { nil } }
}

/// Members ordered by (score, member), and each member's score.
final class SortedSetValue: CollectionBox {
    var count: Int { scores.count }
    var value: Value { .sortedSet(self) }
    static func unwrap(_ value: Value) -> SortedSetValue? { if case .sortedSet(let set) = value { set } else { nil } }

    @exclusivity(unchecked) var scores: [Key: Double] = [:]
    @exclusivity(unchecked) var ordered = Deque<(score: Double, member: Key)>()

    /// Where (score, member) is, or would be, in `ordered`.
    func position(_ score: Double, _ member: Key) -> Int {
        var low = 0
        var high = ordered.count
        while low < high {
            let middle = (low + high) / 2
            let entry = ordered[middle]
            if entry.score < score || (entry.score == score && entry.member < member) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Adds or moves `member` (a borrowed key is copied when it is new); true when it is new.
    func set(_ member: Key, score: Double) -> Bool {
        if let index = scores.index(forKey: member) {
            let (stored, old) = scores[index]
            if old == score { return false }
            ordered.remove(at: position(old, stored))
            scores.values[index] = score
            ordered.insert((score, stored), at: position(score, stored))
            return false
        }
        let member = member.owned
        scores[member] = score
        ordered.insert((score, member), at: position(score, member))
        return true
    }

    func popFirst() -> (score: Double, member: Key)? {
        guard let first = ordered.popFirst() else { return nil }
        scores[first.member] = nil
        return first
    }
}

/// Redis's keyspace (database 0): values, their expiry times, and a heap of those times for
/// the periodic sweep. Used on one reactor's loop thread.
public final class Database: @unchecked Sendable {
    @exclusivity(unchecked) var values: [Key: Value] = [:]
    /// Deadlines, in milliseconds of the monotonic clock.
    @exclusivity(unchecked) var expires: [Key: Int64] = [:]
    /// (deadline, key) for every expiry set; stale entries (the key's deadline changed) are
    /// skipped when they come up, and the heap is rebuilt when they outnumber the live ones.
    @exclusivity(unchecked) private var expiryHeap: [(deadline: Int64, key: Key)] = []
    private let now: () -> Int64

    public init(clock: @escaping () -> Int64) {
        now = clock
    }

    public var count: Int { values.count }
    public var expiringCount: Int { expires.count }

    var currentTime: Int64 { now() }

    /// The value of `key`, dropping it first if it has expired (lazy expiry).
    func index(of key: Key) -> Dictionary<Key, Value>.Index? {
        guard let index = values.index(forKey: key) else { return nil }
        if !expires.isEmpty, let deadline = expires[key], deadline <= now() {
            expires[key] = nil
            values.remove(at: index)
            return nil
        }
        return index
    }

    func value(_ key: Key) -> Value? {
        index(of: key).map { values.values[$0] }
    }

    /// Stores `value` at `key` (copying a borrowed key if it is new), clearing its expiry
    /// unless `keepingExpiry`.
    func set(_ key: Key, _ value: Value, keepingExpiry: Bool = false) {
        if let index = index(of: key) {
            values.values[index] = value
            if !keepingExpiry && !expires.isEmpty { expires[key] = nil }
        } else {
            values[key.owned] = value
        }
    }

    @discardableResult
    func remove(_ key: Key) -> Bool {
        guard let index = index(of: key) else { return false }
        values.remove(at: index)
        if !expires.isEmpty { expires[key] = nil }
        return true
    }

    func removeAll() {
        values.removeAll()
        expires.removeAll()
        expiryHeap.removeAll()
    }

    /// Sets `key` (which must exist) to expire at `deadline`.
    func expire(_ key: Key, at deadline: Int64) {
        let owned = values.index(forKey: key).map { values.keys[$0] } ?? key.owned
        expires[owned] = deadline
        push(deadline, owned)
        if expiryHeap.count > 2 * expires.count + 1024 { rebuildHeap() }
    }

    func persist(_ key: Key) -> Bool {
        expires.removeValue(forKey: key) != nil
    }

    /// Milliseconds until `key` expires, nil when it does not.
    func timeToLive(_ key: Key) -> Int64? {
        expires[key].map { max(0, $0 - now()) }
    }

    /// Drops the keys whose time has come, at most `limit` of them: the periodic sweep.
    @discardableResult
    public func sweep(limit: Int = 10_000) -> Int {
        let time = now()
        var removed = 0
        while removed < limit, let first = expiryHeap.first, first.deadline <= time {
            popHeap()
            if let deadline = expires[first.key], deadline == first.deadline {
                expires[first.key] = nil
                values[first.key] = nil
                removed += 1
            }
        }
        return removed
    }

    private func rebuildHeap() {
        expiryHeap = expires.map { (deadline: $0.value, key: $0.key) }
        expiryHeap.sort { $0.deadline < $1.deadline }  // a sorted array is a heap
    }

    private func push(_ deadline: Int64, _ key: Key) {
        expiryHeap.append((deadline, key))
        var child = expiryHeap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if expiryHeap[parent].deadline <= expiryHeap[child].deadline { break }
            expiryHeap.swapAt(parent, child)
            child = parent
        }
    }

    private func popHeap() {
        let last = expiryHeap.removeLast()
        guard !expiryHeap.isEmpty else { return }
        expiryHeap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < expiryHeap.count && expiryHeap[left].deadline < expiryHeap[smallest].deadline { smallest = left }
            if right < expiryHeap.count && expiryHeap[right].deadline < expiryHeap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            expiryHeap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
