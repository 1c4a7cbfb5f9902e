import PipelineHost

/// The keys' states of a `rolling_aggregates` transform: an index from key to a slot (`KeyIndex`), and the states in
/// one contiguous array.
///
/// Why not `[String: KeyState]`: the periodic passes over every key (idle pruning, watermarks) read each
/// state through `Dictionary.Values`, whose getter copies the whole struct (a retain and release of each of its
/// arrays, 80,000 keys at a time), and the index's entries stay small (a short key and a slot) so a lookup
/// touches one cache line. A removed key's slot is filled by the last state, so the array stays dense.
struct KeyedStates {
    private var slots = KeyIndex()
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
        get { slots[key].map { states[Int($0)] } }
        set {
            if let newValue {
                if let slot = slots[key] {
                    states[Int(slot)] = newValue
                } else {
                    slots[key] = Int32(states.count)
                    keys.append(key)
                    states.append(newValue)
                }
            } else if let slot = slots.removeValue(forKey: key) {
                remove(slot: Int(slot))
            }
        }
    }

    /// Runs `body` on the state of `key` in place, creating it with `make` first when the key is new.
    @inline(__always)
    mutating func withState<R>(_ key: String, make: () -> KeyState, _ body: (inout KeyState) -> R) -> R {
        let slot: Int
        if let s = slots[key] {
            slot = Int(s)
        } else {
            slot = states.count
            slots[key] = Int32(slot)
            keys.append(key)
            states.append(make())
        }
        return body(&states[slot])
    }

    /// Starts loading what updating the states of `keys` (a batch's, in order) will read: each key's index
    /// entry a few keys ahead, then its state, then the start of its state's arrays. 80,000 users' states are far
    /// larger than the caches; updated one event at a time, each of those was a cache miss waited for in turn,
    /// where prefetched they overlap. Only a hint: a key this batch adds is not found here and is looked up as
    /// usual.
    func prefetch(_ keys: [String?]) {
        let ahead = 8
        var found = [Int](repeating: -1, count: keys.count)
        states.withUnsafeBufferPointer { buffer in
            guard let states = buffer.baseAddress else { return }
            for i in 0..<(keys.count + ahead) {
                if i + ahead < keys.count, let k = keys[i + ahead] { slots.prefetch(k) }
                if i < keys.count, let k = keys[i], let slot = slots[k] {
                    found[i] = Int(slot)
                    PipelineHost.prefetch(states + Int(slot))
                }
                // The state fetched `ahead` keys ago holds where its arrays are.
                if i >= ahead, found[i - ahead] >= 0 { Self.prefetchArrays(of: states + found[i - ahead]) }
            }
        }
    }

    /// Where a state's arrays are, read as raw bits: reading the arrays themselves retains them, which cost
    /// more than the prefetch saved. An array is one reference to its storage, whose first cache line holds
    /// its count and first elements; a prefetch never faults, so a stale address would cost nothing but time.
    private static let arrayOffsets = (MemoryLayout<KeyState>.offset(of: \KeyState.times)!,
                                       MemoryLayout<KeyState>.offset(of: \KeyState.values)!,
                                       MemoryLayout<KeyState>.offset(of: \KeyState.cursors)!)

    @inline(__always)
    private static func prefetchArrays(of state: UnsafePointer<KeyState>) {
        let raw = UnsafeRawPointer(state)
        let offsets = arrayOffsets
        if let times = raw.load(fromByteOffset: offsets.0, as: UnsafeRawPointer?.self) { PipelineHost.prefetch(times) }
        if let values = raw.load(fromByteOffset: offsets.1, as: UnsafeRawPointer?.self) { PipelineHost.prefetch(values) }
        if let cursors = raw.load(fromByteOffset: offsets.2, as: UnsafeRawPointer?.self) { PipelineHost.prefetch(cursors) }
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

    /// Calls `body` with every key's newest event time and partition. Read in place: passing each state to a
    /// closure copied it (a retain and release of each of its arrays, for every key).
    func forEachNewest(_ body: (Double, String?) -> Void) {
        states.withUnsafeBufferPointer { buffer in
            for i in buffer.indices { body(buffer[i].newest, buffer[i].partition) }
        }
    }

    private mutating func remove(slot: Int) {
        let last = states.count - 1
        if slot != last {
            states.swapAt(slot, last)
            keys.swapAt(slot, last)
            slots[keys[slot]] = Int32(slot)
        }
        states.removeLast()
        keys.removeLast()
    }
}
