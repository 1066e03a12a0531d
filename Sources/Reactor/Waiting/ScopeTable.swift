/// The tasks that run in a `CancellationScope`, and their scopes, keyed by the task's address:
/// open addressing with linear probing, looked up once per wait without hashing through
/// `Hasher` or retaining the scope. Loop thread only.
struct ScopeTable {
    private var keys: UnsafeMutablePointer<UInt>
    private var scopes: UnsafeMutablePointer<Unmanaged<CancellationScope>>
    private var mask: Int
    private(set) var count = 0

    init() {
        mask = 15
        keys = .allocate(capacity: mask + 1)
        keys.initialize(repeating: 0, count: mask + 1)
        scopes = .allocate(capacity: mask + 1)
    }

    func deallocate() {
        for index in 0...mask where keys[index] != 0 { scopes[index].release() }
        keys.deallocate()
        scopes.deallocate()
    }

    private func home(_ key: UInt) -> Int {
        Int(truncatingIfNeeded: ((key >> 4) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// The scope of the task at `key`, if it has one.
    @inline(__always)
    func scope(of key: UInt) -> Unmanaged<CancellationScope>? {
        if count == 0 { return nil }
        var index = home(key)
        while keys[index] != 0 {
            if keys[index] == key { return scopes[index] }
            index = (index + 1) & mask
        }
        return nil
    }

    mutating func insert(_ scope: CancellationScope, for key: UInt) {
        if (count + 1) * 2 > mask + 1 { grow() }
        var index = home(key)
        while keys[index] != 0 { index = (index + 1) & mask }
        keys[index] = key
        scopes[index] = .passRetained(scope)
        count += 1
    }

    mutating func remove(_ key: UInt) {
        var index = home(key)
        while keys[index] != key {
            if keys[index] == 0 { return }
            index = (index + 1) & mask
        }
        scopes[index].release()
        count -= 1
        // Backward shift: move each later entry of the run whose home does not lie after the hole.
        var next = index
        while true {
            next = (next + 1) & mask
            if keys[next] == 0 { break }
            let wanted = home(keys[next])
            let stays = index <= next ? (index < wanted && wanted <= next) : (index < wanted || wanted <= next)
            if stays { continue }
            keys[index] = keys[next]
            scopes[index] = scopes[next]
            index = next
        }
        keys[index] = 0
    }

    private mutating func grow() {
        let (oldKeys, oldScopes, oldCapacity) = (keys, scopes, mask + 1)
        mask = oldCapacity * 2 - 1
        keys = .allocate(capacity: mask + 1)
        keys.initialize(repeating: 0, count: mask + 1)
        scopes = .allocate(capacity: mask + 1)
        for old in 0..<oldCapacity where oldKeys[old] != 0 {
            var index = home(oldKeys[old])
            while keys[index] != 0 { index = (index + 1) & mask }
            keys[index] = oldKeys[old]
            scopes[index] = oldScopes[old]
        }
        oldKeys.deallocate()
        oldScopes.deallocate()
    }
}
