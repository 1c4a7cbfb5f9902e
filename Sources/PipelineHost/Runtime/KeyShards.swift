import Dispatch

/// Splits a keyed stage's keys among `count` workers (`runtime.parallelism`) by a hash of the key's bytes, and
/// runs the workers at once. Each worker owns its keys' state, so it needs no lock; each key's records stay in
/// order because one worker takes them all, in the batch's order; the batch's records keep their order, so
/// positions and acknowledgements are as with one worker.
///
/// The hash (FNV-1a) is the same in every process: a checkpoint written with one count restores under another,
/// each key going to the worker its hash names then.
public struct KeyShards: Sendable {
    public let count: Int

    public init(count: Int) {
        precondition(count >= 1, "at least one worker")
        self.count = count
    }

    @inline(__always)
    public func shard(of key: String) -> Int {
        guard count > 1 else { return 0 }
        return Int(Self.hash(key) % UInt64(count))
    }

    @inline(__always)
    static func hash(_ key: String) -> UInt64 {
        let h = FNV1a.hash(key)
        // FNV's low bits mix poorly for short keys that differ in their last byte: fold the high half in.
        return h ^ (h >> 29)
    }

    /// The positions of each worker's records, in order; a record without a key goes to worker 0, which rejects it.
    public func positions(_ keys: [String?]) -> [[Int]] {
        var out = [[Int]](repeating: [], count: count)
        for i in out.indices { out[i].reserveCapacity(keys.count / count + 16) }
        for (i, k) in keys.enumerated() { out[k.map(shard) ?? 0].append(i) }
        return out
    }

    /// Runs `body(worker)` for every worker at once, on as many threads, and returns when all have: CPU work on
    /// disjoint state. It blocks the calling thread, like any CPU work in a stage.
    public func forEach(_ body: @Sendable (Int) -> Void) {
        if count == 1 { body(0); return }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// A buffer whose elements workers of `KeyShards.forEach` read and write at once, each only its own: the state
/// of its keys, the records of its keys. Element access goes through the pointer, without the exclusivity
/// checks of an array (which would see one access, not disjoint ones).
// @unchecked Sendable: the compiler cannot see that each worker touches disjoint elements, and `forEach`
// returns only after every worker has, so the buffer never outlives the `withUnsafeMutableBufferPointer` it
// comes from. Use it only that way.
public struct DisjointBuffer<Element>: @unchecked Sendable {
    private let base: UnsafeMutablePointer<Element>

    public init(_ buffer: UnsafeMutableBufferPointer<Element>) {
        base = buffer.baseAddress ?? UnsafeMutablePointer(bitPattern: MemoryLayout<Element>.alignment)!
    }

    public subscript(i: Int) -> Element {
        unsafeAddress { UnsafePointer(base + i) }
        nonmutating unsafeMutableAddress { base + i }
    }
}
