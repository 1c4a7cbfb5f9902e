import CPrefetch

/// Asks the CPU to start loading the cache line at `address`, without waiting for it (see `KeyIndex.prefetch`).
@inline(__always)
public func prefetch(_ address: UnsafeRawPointer) {
    cprefetch_read(address)
}
