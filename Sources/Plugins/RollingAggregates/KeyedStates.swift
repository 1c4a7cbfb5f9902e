/// The keys' states of a `rolling_aggregates` transform: a dictionary from key to a slot, and the states in
/// one contiguous array.
///
/// Why not `[String: KeyState]`: the periodic passes over every key (idle pruning, watermarks) read each
/// state through `Dictionary.Values`, whose getter copies the whole struct (a retain and release of each of its
/// arrays, 80,000 keys at a time), and the dictionary's buckets stay small (a key and an index) so a lookup
/// touches fewer cache lines. A removed key's slot is filled by the last state, so the array stays dense.
struct KeyedStates {
    private var slots: [String: Int] = [:]
    private(set) var keys: [String] = []
    private(set) var states: [KeyState] = []

    var count: Int { states.count }

    init() {}

    init(_ pairs: [String: KeyState]) {
        reserveCapacity(pairs.count)
        for (k, s) in pairs { self[k] = s }
    }

    mutating func reserveCapacity(_ n: Int) {
        slots.reserveCapacity(n)
        keys.reserveCapacity(n)
        states.reserveCapacity(n)
    }

    subscript(key: String) -> KeyState? {
        get { slots[key].map { states[$0] } }
        set {
            if let newValue {
                if let slot = slots[key] {
                    states[slot] = newValue
                } else {
                    slots[key] = states.count
                    keys.append(key)
                    states.append(newValue)
                }
            } else if let slot = slots.removeValue(forKey: key) {
                remove(slot: slot)
            }
        }
    }

    /// Runs `body` on the state of `key` in place, creating it with `make` first when the key is new.
    @inline(__always)
    mutating func withState<R>(_ key: String, make: () -> KeyState, _ body: (inout KeyState) -> R) -> R {
        let slot: Int
        if let s = slots[key] {
            slot = s
        } else {
            slot = states.count
            slots[key] = slot
            keys.append(key)
            states.append(make())
        }
        return body(&states[slot])
    }

    /// Runs `body` on every state in place, and removes the keys for which it returns false.
    mutating func update(_ body: (String, inout KeyState) -> Bool) {
        var i = 0
        while i < states.count {
            if body(keys[i], &states[i]) {
                i += 1
            } else {
                slots[keys[i]] = nil
                remove(slot: i)  // the last state moves into slot i, which is visited next
            }
        }
    }

    /// Calls `body` with every key and its state (no copies of the states).
    func forEach(_ body: (String, borrowing KeyState) -> Void) {
        states.withUnsafeBufferPointer { buffer in
            for i in buffer.indices { body(keys[i], buffer[i]) }
        }
    }

    private mutating func remove(slot: Int) {
        let last = states.count - 1
        if slot != last {
            states.swapAt(slot, last)
            keys.swapAt(slot, last)
            slots[keys[slot]] = slot
        }
        states.removeLast()
        keys.removeLast()
    }
}
