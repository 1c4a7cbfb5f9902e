// A software prefetch, which Swift has no spelling for: keyed stages look up a whole batch's keys in tables far
// larger than the caches, and fetching the entries of many keys at once overlaps the cache misses that looking
// them up one after another would wait for in turn.
#pragma once

static inline void cprefetch_read(const void *address) { __builtin_prefetch(address, 0, 3); }
